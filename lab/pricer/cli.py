"""``python -m lab pricer data|baselines|llm|ensemble|export``: the Pricer lab from a shell.

    $ python -m lab pricer data --json
    {"source": "offline", "items": 349, "train": 279, "test": 70, "categories": 20, "price": {"mean": ...}, ...}
    $ python -m lab pricer baselines --seed 42 --json                  # k-fold: every curated item is a test item
    [{"name": "MiniLM + SVR", "mae": ..., "rmsle": ..., "hit_rate": ..., "mae_ci": [lo, hi], "n": 349}, ...]
    $ python -m lab pricer baselines --eval split --json               # the course's way: train split -> test split
    $ python -m lab pricer rewrite --provider local --n 5 --estimate   # tokens and cost before sending anything
    $ python -m lab pricer llm --provider local --n 20 --json
    {"name": "local/SmolLM2-...", "mae": ..., "misses": 3, "items": [{"title", "price", "reply", "guess", "color"}]}

Every scored run also joins the leaderboard file (<data_dir>/pricer/leaderboard.json).
"""

from __future__ import annotations

import argparse


def _curation(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=42, help="Seed of the train/test split (and of the models).")
    p.add_argument("--max-price", type=float, default=None, help="Drop products dearer than this (default $999.49).")
    p.add_argument(
        "--tokenizer",
        default=None,
        choices=["smollm2", "cl100k_base", "o200k_base"],
        help="Tokenizer that counts the token budget (default smollm2).",
    )
    p.add_argument("--test-items", type=int, default=0, help="Exact test-set size (default: 20%% of the items).")
    p.add_argument("--folds", type=int, default=5, help="Cross-validation folds (default 5).")
    p.add_argument("--json", action="store_true", help="Print JSON.")


def _dataset(args):
    from lab.pricer.data import DataConfig, offline

    cfg = {"seed": args.seed, "test_items": args.test_items, "cv_folds": args.folds}
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
        print(
            f"{stats['items']} items ({stats['train']} train, {stats['test']} test) in {stats['categories']} "
            f"categories; {stats['rejected']} rejected {stats['rejected_by_reason']}"
        )
        print(
            f"cross-validation: {stats['cv']['folds']} folds, all {stats['cv']['test_items']} items scored, "
            f"~{stats['cv']['train_items_per_fold']} training items per fold"
        )
        print("price: " + ", ".join(f"{k} ${v:,.2f}" for k, v in stats["price"].items()))
    return 0


def _table(rows: list[dict]) -> None:
    for r in rows:
        ci = f"  95% CI ${r['mae_ci'][0]:,.2f}-{r['mae_ci'][1]:,.2f}" if r.get("mae_ci") else ""
        print(f"{r['name']:34} MAE ${r['mae']:8.2f}{ci}  RMSLE {r['rmsle']:.3f}  hits {r['hit_rate']:.0%}")


def _baselines(args) -> int:
    import sys

    from lab.cli import print_json
    from lab.core.errors import InputError
    from lab.pricer import baselines, metrics

    ds = _dataset(args)
    names = args.models or baselines.NAMES
    unknown = [n for n in names if n not in baselines.NAMES]
    if unknown:
        raise InputError(
            f"Unknown baseline(s) {', '.join(map(repr, unknown))}; choose from: {', '.join(baselines.NAMES)}."
        )
    if args.eval == "cv":
        say = (
            None
            if args.json
            else (lambda i, n: print(f"{i + 1}/{len(names)} cross-validating {n}...", file=sys.stderr))
        )
        runs = baselines.cross_validate(ds, names, seed=args.seed, folds=args.folds, on_model=say)
    else:
        runs = baselines.run_baselines(ds, names, seed=args.seed)
    rows = [metrics.summary(r.name, r.result) | {"n": r.result["n"], "eval": args.eval} for r in runs]
    for r in runs:
        metrics.record(r.name + (" (cv)" if args.eval == "cv" else ""), r.result)
    print_json(rows) if args.json else _table(rows)
    return 0


def _rewrite(args) -> int:
    import sys

    from lab.cli import print_json, provider_from_args
    from lab.core.errors import InputError
    from lab.pricer import rewrite

    ds = _dataset(args)
    if args.n < 1:
        raise InputError("--n must be at least 1.")
    items = ds.items[: args.n]
    provider = provider_from_args(args)
    model = None if args.provider == "local" else args.model
    texts = [rewrite.raw_text(i) for i in items]
    est = rewrite.estimate(provider, model, texts)
    if args.estimate:
        print_json(est) if args.json else print(est)
        return 0
    cost = "n/a (model not in the price table)" if est["cost_usd"] is None else f"${est['cost_usd']:.4f}"
    print(
        f"rewriting {est['to_rewrite']} of {est['items']} ({est['cached']} cached); estimated cost {cost}",
        file=sys.stderr,
    )
    summaries = rewrite.rewrite(
        provider,
        texts,
        model,
        batch_size=args.batch_size,
        on_batch=None if args.json else (lambda d, t: print(f"{d}/{t}", file=sys.stderr)),
    )
    out = {
        "estimate": est,
        "items": [{"title": i.title, "raw": t, "summary": s} for i, t, s in zip(items, texts, summaries)],
    }
    if args.compare:
        out["compare"] = rewrite.compare(items, summaries, args.compare, seed=args.seed, folds=args.folds)
    if args.json:
        print_json(out)
    else:
        for row in out["items"]:
            print(f"--- {row['title'][:70]}\n{row['summary']}")
        if args.compare:
            _table([r | {"name": f"{r['name']} [{r['text']}]"} for r in out["compare"]])
    return 0


def _llm(args) -> int:
    import sys

    from lab.cli import print_json, provider_from_args
    from lab.core.errors import InputError
    from lab.pricer import llm, metrics

    ds = _dataset(args)
    if args.n < 1:
        raise InputError("--n must be at least 1.")
    items = ds.test[: args.n]
    provider = provider_from_args(args)
    similar = llm.SimilarItems(ds.train) if args.rag else None
    say = lambda i, g: print(f"{i + 1}/{len(items)} ${g.item.price:,.2f} <- {g.reply.strip()[:60]!r}", file=sys.stderr)
    run = llm.price_items(
        provider,
        items,
        model=None if args.provider == "local" else args.model,
        similar=similar,
        k=args.k,
        on_guess=None if args.json else say,
    )
    run.result = metrics.with_ci(run.result, args.seed)
    metrics.record(run.name, run.result)
    out = metrics.summary(run.name, run.result) | {
        "n": run.result["n"],
        "misses": run.result["misses"],
        "items": [
            {"title": g.item.title, "price": g.item.price, "reply": g.reply, "guess": g.price, "color": c}
            for g, c in zip(run.guesses, run.result["colors"])
        ],
    }
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
    result = metrics.with_ci(result, args.seed)
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

    q = ps.add_parser("baselines", help="Train and score every classical baseline (best first, MAE with a 95% CI).")
    _curation(q)
    q.add_argument(
        "--eval",
        choices=["cv", "split"],
        default="cv",
        help="cv (default): k-fold, every curated item scored once by a model that never saw it; "
        "split: train on the train split, score the test split (the course's way).",
    )
    q.add_argument("--models", nargs="+", default=None, help="Only these baselines (names as printed).")
    q.set_defaults(func=_baselines)

    q = ps.add_parser(
        "rewrite",
        help="LLM preprocessing (week 6 day 2): rewrite descriptions into short summaries "
        "(cached), optionally compare models on raw vs rewritten text.",
    )
    _curation(q)
    add_provider_args(q)
    q.add_argument("--n", type=int, default=10, help="How many items to rewrite (the first N curated; default 10).")
    q.add_argument("--batch-size", type=int, default=8, help="Requests per batch (parallel for remote providers).")
    q.add_argument("--estimate", action="store_true", help="Only print tokens and estimated cost; send nothing.")
    q.add_argument(
        "--compare",
        nargs="+",
        default=None,
        help="Cross-validate these baselines on the raw and the rewritten text of the same items.",
    )
    q.set_defaults(func=_rewrite)

    q = ps.add_parser("llm", help="Score an LLM pricer (any provider) on the first N test items.")
    _curation(q)
    add_provider_args(q)
    q.add_argument("--n", type=int, default=20, help="How many test items to price (default 20).")
    q.add_argument(
        "--rag", action="store_true", help="Put the k most similar training items, with prices, in the prompt."
    )
    q.add_argument("--k", type=int, default=5, help="How many similar items RAG shows (default 5).")
    q.set_defaults(func=_llm)

    q = ps.add_parser("ensemble", help="Linear regression over baselines' guesses plus their min and max.")
    _curation(q)
    q.add_argument(
        "--models",
        nargs="+",
        default=["bag of words + LR", "MiniLM + SVR", "MiniLM + random forest"],
        help="Baselines to combine (names as `pricer baselines` prints them).",
    )
    q.set_defaults(func=_ensemble)

    q = ps.add_parser(
        "export", help="Save the curated data as a datasets.DatasetDict (push with --hub-repo and HF_TOKEN)."
    )
    _curation(q)
    q.add_argument("--path", default=None, help="Folder (default <data_dir>/pricer/dataset).")
    q.add_argument("--hub-repo", default=None, help="Also push to this Hub repo (needs HF_TOKEN).")
    q.set_defaults(func=_export)
