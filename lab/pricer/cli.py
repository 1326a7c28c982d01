"""``python -m lab pricer data|baselines|llm|ensemble|export``: the Pricer lab from a shell.

    $ python -m lab pricer data --json
    {"source": "offline", "items": 349, "train": 279, "test": 70, "categories": 20, "price": {"mean": ...}, ...}
    $ python -m lab pricer baselines --seed 42 --json
    [{"name": "MiniLM + SVR", "mae": ..., "rmsle": ..., "hit_rate": ...}, ...]      # best MAE first
    $ python -m lab pricer llm --provider local --n 20 --json
    {"name": "local/SmolLM2-...", "mae": ..., "misses": 3, "items": [{"title", "price", "reply", "guess", "color"}]}

Every scored run also joins the leaderboard file (<data_dir>/pricer/leaderboard.json).
"""

from __future__ import annotations

import argparse


def _curation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=42, help="Seed of the train/test split (and of the models).")
    p.add_argument("--max-price", type=float, default=None, help="Drop products dearer than this (default $999.49).")
    p.add_argument("--tokenizer", default=None, choices=["smollm2", "cl100k_base", "o200k_base"],
                   help="Tokenizer that counts the token budget (default smollm2).")
    p.add_argument("--test-items", type=int, default=0, help="Exact test-set size (default: 20%% of the items).")
    p.add_argument("--json", action="store_true", help="Print JSON.")


def _dataset(args):
    from lab.pricer.data import DataConfig, offline

    cfg = {"seed": args.seed, "test_items": args.test_items}
    if args.max_price is not None:
        cfg["max_price"] = args.max_price
    if args.tokenizer:
        cfg["tokenizer"] = args.tokenizer
    return offline(DataConfig(**cfg))


def _data(args) -> int:
    from lab.cli import print_json

    stats = _dataset(args).stats()
    if args.json:
        print_json(stats)
    else:
        print(f"{stats['items']} items ({stats['train']} train, {stats['test']} test) in {stats['categories']} "
              f"categories; {stats['rejected']} rejected {stats['rejected_by_reason']}")
        print("price: " + ", ".join(f"{k} ${v:,.2f}" for k, v in stats["price"].items()))
    return 0


def _table(rows: list[dict]) -> None:
    for r in rows:
        print(f"{r['name']:34} MAE ${r['mae']:8.2f}  RMSLE {r['rmsle']:.3f}  hits {r['hit_rate']:.0%}")


def _baselines(args) -> int:
    from lab.cli import print_json
    from lab.pricer import baselines, metrics

    ds = _dataset(args)
    runs = baselines.run_baselines(ds, seed=args.seed)
    rows = [metrics.summary(r.name, r.result) for r in runs]
    for r in runs:
        metrics.record(r.name, r.result)
    print_json(rows) if args.json else _table(rows)
    return 0


def _llm(args) -> int:
    import sys

    from lab.cli import print_json, provider_from_args
    from lab.llm.base import InputError
    from lab.pricer import llm, metrics

    ds = _dataset(args)
    if args.n < 1:
        raise InputError("--n must be at least 1.")
    items = ds.test[: args.n]
    provider = provider_from_args(args)
    similar = llm.SimilarItems(ds.train) if args.rag else None
    say = (lambda i, g: print(f"{i + 1}/{len(items)} ${g.item.price:,.2f} <- {g.reply.strip()[:60]!r}", file=sys.stderr))
    run = llm.price_items(provider, items, model=None if args.provider == "local" else args.model, similar=similar,
                          k=args.k, on_guess=None if args.json else say)
    metrics.record(run.name, run.result)
    out = metrics.summary(run.name, run.result) | {
        "n": run.result["n"], "misses": run.result["misses"],
        "items": [{"title": g.item.title, "price": g.item.price, "reply": g.reply, "guess": g.price, "color": c}
                  for g, c in zip(run.guesses, run.result["colors"])]}
    if args.json:
        print_json(out)
    else:
        _table([out])
        if out["misses"]:
            print(f"{out['misses']} replies had no number (counted as misses).")
    return 0


def _ensemble(args) -> int:
    from lab.cli import print_json
    from lab.pricer import ensemble, metrics

    ds = _dataset(args)
    ens, _, result = ensemble.from_baselines(ds, args.models, seed=args.seed)
    metrics.record("ensemble of " + ", ".join(args.models), result)
    out = metrics.summary("ensemble", result) | {"weights": {k: round(v, 4) for k, v in ens.weights().items()}}
    print_json(out) if args.json else _table([out])
    return 0


def _export(args) -> int:
    from lab.cli import print_json
    from lab.pricer.data import export

    print_json(export(_dataset(args), args.path, args.hub_repo))
    return 0


def add_parser(sub) -> None:
    from lab.cli import add_provider_args

    p = sub.add_parser("pricer", help="Pricer lab: product data, baselines, LLM and ensemble pricers, scoreboard.")
    ps = p.add_subparsers(dest="pricer_command", required=True)

    q = ps.add_parser("data", help="Curate the offline product data; print counts and price statistics.")
    _curation(q)
    q.set_defaults(func=_data)

    q = ps.add_parser("baselines", help="Train and score every classical baseline (best first).")
    _curation(q)
    q.set_defaults(func=_baselines)

    q = ps.add_parser("llm", help="Score an LLM pricer (any provider) on the first N test items.")
    _curation(q)
    add_provider_args(q)
    q.add_argument("--n", type=int, default=20, help="How many test items to price (default 20).")
    q.add_argument("--rag", action="store_true", help="Put the k most similar training items, with prices, in the prompt.")
    q.add_argument("--k", type=int, default=5, help="How many similar items RAG shows (default 5).")
    q.set_defaults(func=_llm)

    q = ps.add_parser("ensemble", help="Linear regression over baselines' guesses plus their min and max.")
    _curation(q)
    q.add_argument("--models", nargs="+", default=["bag of words + LR", "MiniLM + SVR", "MiniLM + random forest"],
                   help="Baselines to combine (names as `pricer baselines` prints them).")
    q.set_defaults(func=_ensemble)

    q = ps.add_parser("export", help="Save the curated data as a datasets.DatasetDict (push with --hub-repo and HF_TOKEN).")
    _curation(q)
    q.add_argument("--path", default=None, help="Folder (default <data_dir>/pricer/dataset).")
    q.add_argument("--hub-repo", default=None, help="Also push to this Hub repo (needs HF_TOKEN).")
    q.set_defaults(func=_export)
