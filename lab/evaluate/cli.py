"""``python -m lab evaluate ...``: your own leaderboard, the class arena, the rungs, the public boards.

    $ python -m lab evaluate rungs                                   # F16, Q8_0, Q4_K_M of SmolLM2 (once, seconds)
    $ python -m lab evaluate run --models rung:F16,rung:Q8_0,rung:Q4_K_M --suite general,json,tools,pricer,rag --json
    {"rows": [{"model": "SmolLM2-135M-Instruct.Q4_1-F16.gguf", "task": "general", "score": 0.55,
               "latency_ms_p50": 180.2, "tok_s": 61.3, "bytes": 270911648}, ...]}
    $ python -m lab evaluate run --models local,openai:gpt-4o-mini --suite rag --judge openai:gpt-4o-mini
    $ python -m lab evaluate battle --models local,rung:Q8_0 "Write a haiku about rain"    # vote a/b/tie/bad
    $ python -m lab evaluate vote --a local --b openai:gpt-4o-mini --winner b              # record a battle
    $ python -m lab evaluate arena --json
    {"ratings": [{"model": "...", "rating": 1042.3, "ci": [1001.8, 1090.2], "votes": 12}, ...]}

Models: ``local`` (the default local model), ``rung:TYPE``, a ``.gguf`` path, or ``provider:model``.
"""

from __future__ import annotations

import sys


def _say(done: int, total: int, msg: str) -> None:
    print(f"[{done}/{total}] {msg}" if total else msg, file=sys.stderr)


def _run(args) -> int:
    from lab.cli import print_json
    from lab.core.errors import InputError
    from lab.evaluate import models, suite, tasks

    if args.n is not None and args.n < 1:
        raise InputError("--n must be at least 1 (cases per task).")
    specs = models.parse_list(args.models, args.base_url)
    names = tasks.parse_suite(args.suite)
    judge = None
    if args.judge:
        from lab.evaluate.judge import Judge

        j = models.parse(args.judge, args.base_url)
        judge = Judge(j.build(), j.model_arg, f"judge {j.label}")
    rows = suite.run_suite(specs, names, n=args.n, judge=judge, on_progress=None if args.quiet else _say)
    if args.json:
        print_json({"rows": [r.to_json(details=args.details) for r in rows]})
        return 0
    print(f"{'model':42} {'task':8} {'score':>6} {'p50 ms':>8} {'tok/s':>7} {'MB':>6} {'cost $':>9}")
    for r in rows:
        cost = "n/a" if r.cost_usd is None else f"{r.cost_usd:.4f}"
        print(
            f"{r.model[:42]:42} {r.task:8} {'-' if r.score is None else f'{r.score:.2f}':>6} "
            f"{r.latency_ms_p50 or '-':>8} {r.tok_s or '-':>7} {'-' if not r.bytes else f'{r.bytes / 1e6:.0f}':>6} "
            f"{cost:>9}" + (f"  error: {r.error}" if r.error else "")
        )
    return 0


def _arena(args) -> int:
    from lab.cli import print_json
    from lab.evaluate.arena import VoteStore
    from lab.evaluate.ratings import ratings

    store = VoteStore(args.db)
    rows = ratings(store.battles(), method=args.method, rounds=args.rounds)
    if args.json:
        print_json({"ratings": rows, "method": args.method, "battles": store.count()})
    else:
        print(f"{store.count()} votes; {'Bradley-Terry' if args.method == 'bt' else 'online Elo'}, 95% bootstrap CI")
        for r in rows:
            print(f"{r['rating']:8.1f}  [{r['ci'][0]:.1f}, {r['ci'][1]:.1f}]  {r['votes']:4d} votes  {r['model']}")
    return 0


def _battle(args) -> int:
    from lab.core.errors import InputError
    from lab.evaluate import arena, models

    store = arena.VoteStore(args.db)
    b = arena.answer(arena.new_battle(models.parse_list(args.models, args.base_url), args.prompt))
    for side, text in (("A", b.answer_a), ("B", b.answer_b)):
        print(f"--- Model {side} ---\n{text}\n")
    if b.errors:
        raise InputError("; ".join(b.errors))
    choice = args.vote
    while choice not in arena.VOTES:
        print("Your vote [a / b / tie / bad]: ", end="", file=sys.stderr, flush=True)
        line = sys.stdin.readline()
        if not line:
            raise InputError("No vote given (stdin closed); pass --vote a|b|tie|bad.")
        choice = line.strip().lower()
    arena.vote(store, b, choice)
    print(f"Model A was {b.model_a.label}; model B was {b.model_b.label}. Vote recorded ({store.count()} in all).")
    return 0


def _vote(args) -> int:
    from lab.evaluate.arena import VoteStore

    store = VoteStore(args.db)
    vid = store.add(args.a, args.b, args.winner)
    print(f"vote {vid} recorded: {args.a} vs {args.b} -> {args.winner}")
    return 0


def _rungs(args) -> int:
    from lab.cli import print_json
    from lab.evaluate import rungs

    paths = rungs.ensure([t for t in args.types.split(",") if t.strip()], lambda m: print(m, file=sys.stderr))
    rows = [
        {"type": t.strip().upper(), "path": str(p), "bytes": p.stat().st_size, "model": f"rung:{t.strip().upper()}"}
        for t, p in zip(args.types.split(","), paths)
    ]
    if args.json:
        print_json(rows)
    else:
        for r in rows:
            print(f"{r['bytes'] / 1e6:7.1f} MB  {r['model']:14} {r['path']}")
    return 0


def _boards(args) -> int:
    from lab.cli import print_json
    from lab.evaluate.leaderboards import BOARDS

    if args.json:
        print_json([b.to_dict() for b in BOARDS])
    else:
        for b in BOARDS:
            print(f"{b.name}\n  {b.url}\n  {b.axis}\n  measures: {b.measures}\n")
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="Evaluate lab: your own leaderboard (score x speed x size), a blind arena.")
    es = p.add_subparsers(dest="evaluate_command", required=True)

    def models_arg(q, default="local"):
        q.add_argument(
            "--models",
            default=default,
            help="Comma-separated: local, rung:TYPE, a .gguf path, or provider:model (e.g. openai:gpt-4o-mini).",
        )
        q.add_argument("--base-url", default=None, help="Server URL for openai-compatible / ollama models.")

    def db_arg(q):
        q.add_argument("--db", default=None, help="Vote store (default <data_dir>/evaluate/arena.db, shared).")

    q = es.add_parser("run", help="Run the suite: one row per model and task.")
    models_arg(q)
    q.add_argument(
        "--suite",
        default="general,json,tools,pricer,rag",
        help="Comma-separated tasks among general, json, tools, pricer, rag (default: all).",
    )
    q.add_argument(
        "--n", type=int, default=None, help="Cases per task (default: each task's own, 5-10; the sets hold 8-48)."
    )
    q.add_argument(
        "--judge",
        default=None,
        metavar="MODEL",
        help="Grade RAG answers with this model (provider:model) instead of keywords.",
    )
    q.add_argument(
        "--json", action="store_true", help='Print {"rows": [{model, task, score, latency_ms_p50, tok_s, bytes}]}.'
    )
    q.add_argument("--details", action="store_true", help="With --json: also n, cost_usd, error and every case.")
    q.add_argument("--quiet", action="store_true", help="No progress lines on stderr.")
    q.set_defaults(func=_run)

    q = es.add_parser("arena", help="Ratings from the class's votes, with 95%% bootstrap intervals.")
    db_arg(q)
    q.add_argument(
        "--method", choices=["bt", "elo"], default="bt", help="bt = Bradley-Terry (as the Arena); elo = online Elo."
    )
    q.add_argument("--rounds", type=int, default=100, help="Bootstrap resamples (default 100).")
    q.add_argument("--json", action="store_true", help='Print {"ratings": [{model, rating, ci, votes}]}.')
    q.set_defaults(func=_arena)

    q = es.add_parser("battle", help="Two anonymous models answer a prompt; vote; the names are revealed.")
    models_arg(q, default="local,rung:Q4_K_M")
    db_arg(q)
    q.add_argument("--vote", choices=["a", "b", "tie", "bad"], default=None, help="Vote without asking on stdin.")
    q.add_argument("prompt")
    q.set_defaults(func=_battle)

    q = es.add_parser("vote", help="Record one battle's outcome by model names (no generation).")
    db_arg(q)
    q.add_argument("--a", required=True, help="Model A's name.")
    q.add_argument("--b", required=True, help="Model B's name.")
    q.add_argument("--winner", required=True, choices=["a", "b", "tie", "bad"])
    q.set_defaults(func=_vote)

    q = es.add_parser("rungs", help="Make the ladder rungs of the bundled SmolLM2 for the suite (seconds, once).")
    q.add_argument("--types", default="F16,Q8_0,Q4_K_M", help="Comma-separated rung types (default F16,Q8_0,Q4_K_M).")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_rungs)

    q = es.add_parser("leaderboards", help="The public leaderboards the course uses, and what each measures.")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=_boards)
