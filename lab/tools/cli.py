"""``python -m lab tools ask|prices|reliability``: FlightAI and its tool loop from a shell.

    $ python -m lab tools ask --json "How much is a ticket from London to Paris?"
    {"answer": "A ticket from London to Paris is $899.", "trace": [{"role": "system", ...}, {"role": "user", ...},
     {"role": "assistant", "content": null, "tool_calls": [...]}, {"role": "tool", "tool_call_id": ..., ...}, ...]}
    $ python -m lab tools ask --provider openai "Book Ada Lovelace from London to Tokyo on 2027-05-01"
    round 1: book_flight({"passenger": "Ada Lovelace", ...}) -> ok {"booking_id": 1, ...}
    round 2: answer
    Your flight to Tokyo on 1 May 2027 is booked (booking 1, $1,400).
    $ python -m lab tools ask --provider openai "Book a flight for '  ' from London to Tokyo on 1900-01-01"
    round 1: book_flight({"passenger": "  ", ..., "date": "1900-01-01"}) -> invalid_arguments Error: invalid
      arguments for book_flight: passenger: Value error, must not be blank; date: Value error, 1900-01-01 is outside
      the booking window: departures from <today> (today) to <today + 2 years> (2 years ahead). Expected JSON ...
    round 2: answer
    I need the passenger's name, and a departure date from today up to two years ahead.
    $ python -m lab tools prices --json
    [{"destination": "Berlin", "price_usd": 499.0}, ...]
    $ python -m lab tools reliability --tries 20          # how often SmolLM2 makes a valid call

Without ``--json``, the rounds go to stderr and the answer to stdout. Arguments are checked before a tool runs
(lab.tools.flightai: non-blank names, a departure from today up to 2 years ahead, cities from the price table); a
refusal is the model's ``tool`` message, and the round line shows it.
"""

from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> None:
    from lab.cli import add_provider_args

    tools = sub.add_parser("tools", help="FlightAI: function calling with a visible tool loop.")
    tsub = tools.add_subparsers(dest="tools_command", required=True)

    p = tsub.add_parser("ask", help="Ask FlightAI one question; it may call tools (prices, bookings) first.")
    add_provider_args(p)
    p.add_argument("--json", action="store_true", help='Print {"answer": TEXT, "trace": [MESSAGES]} (OpenAI-shaped).')
    p.add_argument("--max-rounds", type=int, default=5, help="Most requests sent to the model (default 5, at most 10).")
    p.add_argument(
        "--strategy",
        default="auto",
        choices=["auto", "native", "constrained"],
        help="native = the provider's tool API; constrained = JSON-schema output (auto: constrained for local).",
    )
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="TOOL",
        help="Also offer an example tool: list_destinations, get_local_time, convert_currency (repeatable).",
    )
    p.add_argument("--db", default=None, help="SQLite file (default: <data_dir>/flightai.db, created and seeded).")
    p.add_argument("question", help="The question, e.g. 'How much is a ticket to Paris?'.")
    p.set_defaults(func=_ask)

    p = tsub.add_parser("prices", help="Print FlightAI's price table.")
    p.add_argument("--json", action="store_true", help='Print [{"destination", "price_usd"}, ...].')
    p.add_argument("--db", default=None, help="SQLite file (default: <data_dir>/flightai.db).")
    p.set_defaults(func=_prices)

    p = tsub.add_parser("reliability", help="Count valid tool calls over N price questions (greedy decoding).")
    add_provider_args(p)
    p.add_argument("--tries", type=int, default=20, help="How many questions (1-20, default 20).")
    p.add_argument("--strategy", default="auto", choices=["auto", "native", "constrained"])
    p.add_argument("--json", action="store_true", help="Print the counts and every try as JSON.")
    p.set_defaults(func=_reliability)


def _ask(args: argparse.Namespace) -> int:
    from lab.cli import print_json, provider_from_args
    from lab.tools.flightai import FlightDB, ask

    provider = provider_from_args(args)
    result = ask(
        provider,
        args.question,
        db=FlightDB(args.db),
        extras=args.extra,
        max_rounds=args.max_rounds,
        model=None if args.provider == "local" else args.model,
        strategy=args.strategy,
    )
    for r in result.rounds:
        calls = "; ".join(f"{c.name}({c.arguments}) -> {c.status} {c.content}" for c in r.calls) or "answer"
        print(f"round {r.index}: {calls}", file=sys.stderr)
    if result.stopped == "max_rounds":
        print(
            f"stopped: the model still asked for tools after {args.max_rounds} rounds (raise --max-rounds).",
            file=sys.stderr,
        )
    if args.json:
        print_json(result.to_dict())
    else:
        print(result.answer)
    return 0


def _prices(args: argparse.Namespace) -> int:
    from lab.cli import print_json
    from lab.tools.flightai import FlightDB

    rows = [{"destination": k, "price_usd": v} for k, v in FlightDB(args.db).prices().items()]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['destination']:20} ${r['price_usd']:>9,.2f}")
    return 0


def _reliability(args: argparse.Namespace) -> int:
    import tempfile
    from pathlib import Path

    from lab.cli import print_json, provider_from_args
    from lab.tools.flightai import FlightDB, measure_calls

    provider = provider_from_args(args)
    with tempfile.TemporaryDirectory() as tmp:  # a freshly seeded table: the expected prices are known
        report = measure_calls(
            provider,
            tries=args.tries,
            db=FlightDB(Path(tmp) / "flightai.db"),
            model=None if args.provider == "local" else args.model,
            strategy=args.strategy,
            on_try=lambda r: print(
                f"{'ok ' if r['right'] else 'val' if r['valid'] else 'BAD'} {r['question']} -> {r['call']}",
                file=sys.stderr,
            ),
        )
    if args.json:
        print_json(report)
    else:
        n = report["tries"]
        print(
            f"valid calls {report['valid_calls']}/{n}, right calls {report['right_calls']}/{n}, "
            f"right price in the answer {report['right_price_in_answer']}/{n}"
        )
    return 0
