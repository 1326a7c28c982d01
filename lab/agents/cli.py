"""``python -m lab agents ...``: the deal hunter from a shell.

    python -m lab agents run [--plan fixed|llm] [--provider P] --json
        {"opportunities": [{"title", "url", "price", "estimate", "discount", "members": {NAME: GUESS}, "seconds"}],
         "log": [{"agent", "message"}], "notified": [...], ...}
    python -m lab agents scan --json        {"deals": [{"title", "url", "price"}], "dropped": [{"title", "reason"}]}
    python -m lab agents price "DESCRIPTION" --json      {"estimate", "members": {...}, "weights": {...}, "seconds"}
    python -m lab agents memory [--clear] [--forget URL] --json
    python -m lab agents modal --print | --deploy [--run RUN] [--gpu T4]
    python -m lab agents score --json       the ensemble and each member on the Pricer's test split

The CLI keeps its memory and inbox under ``<data_dir>/agents``. ``--feed`` (repeatable) reads other feeds (files or
http(s) URLs) instead of the bundled ones; ``--online`` reads the course's dealnews feeds.
"""

from __future__ import annotations

import sys


def _provider(args):
    from lab.cli import provider_from_args

    return provider_from_args(args)


def _model(args):
    return None if args.provider == "local" else args.model


def _sources(args):
    from lab.agents.feeds import ONLINE_FEEDS

    return args.feed or (ONLINE_FEEDS if args.online else None)


def _echo(line) -> None:
    print(line.ansi(), file=sys.stderr, flush=True)


def _run(args) -> int:
    from lab.agents.cycle import run_cycle
    from lab.cli import print_json

    out = run_cycle(
        args.plan,
        _provider(args),
        model=_model(args),
        listener=None if args.quiet else _echo,
        sources=_sources(args),
        specialist=args.specialist,
        threshold=args.threshold,
        n=args.n,
    )
    if args.json:
        print_json(out.to_dict())
    else:
        for o in out.opportunities:
            print(f"{o['discount']:>+9.2f}  ${o['price']:>8,.2f} -> ${o['estimate']:>8,.2f}  {o['title'][:70]}")
        for n in out.notified:
            print(f"notified ({', '.join(n['channels'])}): {n['text']}")
    return 0


def _scan(args) -> int:
    from lab.agents.cycle import memory_for
    from lab.agents.framework import Log
    from lab.agents.scanner import ScannerAgent
    from lab.cli import print_json

    log = Log(None if args.quiet else _echo)
    result = ScannerAgent(log, sources=_sources(args)).scan(
        _provider(args), known=memory_for().urls(), n=args.n, model=_model(args)
    )
    if args.json:
        print_json(result.to_dict())
    else:
        for d in result.deals:
            print(f"${d.price:>8,.2f}  [{d.source}] {d.title}")
        for d in result.dropped:
            print(f"dropped: {d['title'][:60]}: {d['reason']}")
    return 0


def _price(args) -> int:
    from lab.agents.cycle import get_ensemble
    from lab.agents.framework import Log
    from lab.cli import print_json

    log = Log(None if args.quiet else _echo)
    agent = get_ensemble(_provider(args), model=_model(args), specialist=args.specialist, log=log)
    priced = agent.price(args.description)
    out = priced.to_dict() | {"member_labels": {m.name: m.label for m in agent.members}}
    if args.json:
        print_json(out)
    else:
        print(f"${priced.estimate:,.2f}  " + ", ".join(f"{k}: {v}" for k, v in out["members"].items()))
    return 0


def _memory(args) -> int:
    from lab.agents.cycle import inbox_for, memory_for
    from lab.cli import print_json

    memory = memory_for()
    cleared = memory.clear() if args.clear else 0
    if args.clear:
        inbox_for().clear()
    forgotten = memory.forget(args.forget) if args.forget else False
    rows = memory.load()
    if args.json:
        print_json(
            {
                "memory": rows,
                "cleared": cleared,
                "forgotten": forgotten,
                "inbox": inbox_for().load(),
                "path": str(memory.path),
            }
        )
    else:
        for r in rows:
            print(f"{r.get('when', '')}  ${r['price']:,.2f} -> ${r['estimate']:,.2f}  {r['title'][:70]}")
        print(f"{len(rows)} deal(s) remembered in {memory.path}" + (f"; cleared {cleared}" if args.clear else ""))
    return 0


def _modal(args) -> int:
    from lab.agents import modal_service

    text = modal_service.for_run(args.run, gpu=args.gpu)
    if args.print or not args.deploy:
        print(text)
        return 0
    path = modal_service.write(text)
    print(f"wrote {path}; deploying ...", file=sys.stderr)
    done = modal_service.deploy(path)
    print(done.stdout + done.stderr)
    return done.returncode


def _fit(args) -> int:
    from lab.agents.ensemble import score_on_pricer_test
    from lab.cli import print_json

    out = score_on_pricer_test(
        _provider(args),
        model=_model(args),
        specialist=args.specialist,
        progress=None if args.quiet else (lambda m: print(m, file=sys.stderr, flush=True)),
    )
    if args.json:
        print_json({k: out[k] for k in ("n", "summary", "weights", "labels")})
    else:
        for r in out["summary"]:
            print(
                f"{r['name']:24} MAE ${r['mae']:>8,.2f}  x{r['ratio_to_constant']:.2f} of constant  "
                f"hit {r['hit_rate']:.0%}"
            )
    return 0


def add_parser(sub) -> None:
    from lab.cli import add_provider_args

    p = sub.add_parser("agents", help="The deal hunter: scanner, ensemble pricer, messenger, planner, memory.")
    s = p.add_subparsers(dest="agents_command", required=True)

    def common(q, provider=True, feeds=False, specialist=False):
        if provider:
            add_provider_args(q)
        q.add_argument("--json", action="store_true", help="Print JSON.")
        q.add_argument("--quiet", action="store_true", help="Do not echo the agents' coloured log to stderr.")
        if feeds:
            q.add_argument(
                "--feed",
                action="append",
                default=None,
                help="An RSS file or URL (repeatable); default: the bundled feeds.",
            )
            q.add_argument(
                "--online", action="store_true", help="Read the course's dealnews feeds (needs the network)."
            )
            q.add_argument("--n", type=int, default=5, help="Deals to select and price (default 5).")
        if specialist:
            q.add_argument(
                "--specialist",
                default="auto",
                help="auto (newest fine-tune adapter, else base SmolLM2), base, modal, adapter:RUN or gguf:PATH.",
            )

    q = s.add_parser("run", help="One cycle: scan, price with the ensemble, notify the best, remember.")
    common(q, feeds=True, specialist=True)
    q.add_argument(
        "--plan",
        default="fixed",
        choices=["fixed", "llm"],
        help="fixed: the course's plan; llm: the model calls the agents as tools.",
    )
    q.add_argument(
        "--threshold", type=float, default=50.0, help="Notify when estimate - price is above this (dollars)."
    )
    q.set_defaults(func=_run)

    q = s.add_parser("scan", help="Read the feeds and let the model select deals (nothing is priced or remembered).")
    common(q, feeds=True)
    q.set_defaults(func=_scan)

    q = s.add_parser("price", help="Price one description with the ensemble: each member's guess and the weights.")
    common(q, specialist=True)
    q.add_argument("description")
    q.set_defaults(func=_price)

    q = s.add_parser("memory", help="The deals surfaced so far (the CLI's memory); --clear forgets them all.")
    common(q, provider=False)
    q.add_argument("--clear", action="store_true")
    q.add_argument("--forget", default=None, metavar="URL", help="Forget one deal.")
    q.set_defaults(func=_memory)

    q = s.add_parser("modal", help="The pricing service for Modal: print its source, or deploy it (needs a token).")
    g = q.add_mutually_exclusive_group()
    g.add_argument("--print", action="store_true")
    g.add_argument("--deploy", action="store_true")
    q.add_argument("--run", default=None, help="A fine-tune run id or folder (default: the newest with an adapter).")
    q.add_argument("--gpu", default="T4")
    q.set_defaults(func=_modal)

    q = s.add_parser("score", help="Fit the ensemble and score it beside each member on the Pricer's test split.")
    common(q, specialist=True)
    q.set_defaults(func=_fit)
