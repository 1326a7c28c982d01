"""``python -m lab finetune openai prepare|validate|launch|status|cancel|jobs|score``: the course's OpenAI fine-tune.

    $ python -m lab finetune openai prepare --out runs/oa --json
    {"train": "runs/oa/train.jsonl", "validation": "runs/oa/validation.jsonl", "examples": 200, "tokens": 20925,
     "est_cost_usd": 0.062775, ...}
    $ python -m lab finetune openai validate runs/oa/train.jsonl --json      # exit 0 when ok, 1 when not
    {"ok": true, "examples": 200, "tokens": 20925, "errors": [], ...}
    $ python -m lab finetune openai launch --train runs/oa/train.jsonl --validation runs/oa/validation.jsonl
    ftjob-abc123
    $ python -m lab finetune openai status ftjob-abc123 --json
    {"id": "ftjob-abc123", "status": "running", ..., "events": [newest first], "metrics": [{"step", "train_loss"}]}

prepare and validate run offline; the others need OPENAI_API_KEY (or --base-url to an OpenAI-shaped server).
``add_openai_parser`` hangs the group under ``finetune``; heavy imports stay in the handlers.
"""

from __future__ import annotations

import argparse
import sys


def _prepare(args) -> int:
    from lab.cli import print_json
    from lab.finetune.openai_data import prepare

    p = prepare(args.n, args.n_val, args.out, model=args.model, epochs=args.epochs)
    if args.json:
        print_json(p.to_dict())
    else:
        cost = "n/a" if p.est_cost_usd is None else f"${p.est_cost_usd:.4f}"
        print(
            f"wrote {p.train} ({p.examples} examples, {p.tokens:,} tokens) and {p.validation} "
            f"({p.validation_examples}); {p.epochs} epoch(s) of {p.model}: about {cost}"
        )
    return 0


def _validate(args) -> int:
    from lab.cli import print_json
    from lab.finetune.openai_data import TRAINING_PRICES_AS_OF, estimate_cost, validate

    r = validate(args.file, min_examples=args.min_examples)
    out = r.to_dict() | {
        "model": args.model,
        "epochs": args.epochs,
        "est_cost_usd": estimate_cost(r.tokens, args.epochs, args.model),
        "prices_as_of": TRAINING_PRICES_AS_OF,
    }
    if args.json:
        print_json(out)
    else:
        for e in r.errors:
            print(f"{args.file}:{e['line']}: {e['error']}")
        for w in r.warnings:
            print(f"warning: {w}")
        print(
            f"{'ok' if r.ok else 'NOT OK'}: {r.examples} examples, {r.tokens:,} tokens, "
            f"{len(r.errors)} problem(s); est. cost {out['est_cost_usd']}"
        )
    return 0 if r.ok else 1


def _launch(args) -> int:
    from lab.finetune.openai_jobs import launch

    job = launch(
        args.train,
        args.validation,
        model=args.model,
        epochs=args.epochs,
        seed=args.seed,
        suffix=args.suffix,
        wandb_project=args.wandb_project,
        base_url=args.base_url,
    )
    print(
        f"created {job['id']} ({job['status']}); follow it: python -m lab finetune openai status {job['id']}",
        file=sys.stderr,
    )
    print(job["id"])
    return 0


def _status(args) -> int:
    from lab.cli import print_json
    from lab.core.errors import ProviderUnavailable
    from lab.finetune.openai_jobs import follow

    view = follow(args.job_id, base_url=args.base_url)
    if not view["reachable"]:
        raise ProviderUnavailable(view["problem"])
    job = view["job"]
    keep = (
        "id",
        "status",
        "model",
        "fine_tuned_model",
        "trained_tokens",
        "created_at",
        "finished_at",
        "training_file",
        "validation_file",
        "result_files",
    )
    out = {k: job.get(k) for k in keep} | {
        "error": (job.get("error") or {}).get("message"),
        "events": view["events"],
        "metrics": view["metrics"],
    }
    if args.json:
        print_json(out)
        return 0
    print(f"{out['id']}: {out['status']}" + (f" -> {out['fine_tuned_model']}" if out["fine_tuned_model"] else ""))
    if out["error"]:
        print(f"error: {out['error']}")
    for e in view["events"][: args.events]:
        print(f"  [{e['level']:5}] {e['message']}")
    return 0


def _cancel(args) -> int:
    from lab.finetune.openai_jobs import cancel

    print(f"{args.job_id}: {cancel(args.job_id, base_url=args.base_url)['status']}")
    return 0


def _jobs(args) -> int:
    from lab.cli import print_json
    from lab.finetune.openai_jobs import list_jobs, records

    rows = list_jobs(base_url=args.base_url) if args.remote else list(records().values())
    if args.json:
        print_json(rows)
    for r in [] if args.json else rows:
        print(f"{r['id']}  {r.get('status', '?'):16} {r.get('model')}  {r.get('fine_tuned_model') or ''}")
    return 0


def _score(args) -> int:
    from lab.cli import print_json
    from lab.finetune.openai_jobs import score_model

    r = score_model(args.model, n=args.n, base_url=args.base_url)
    out = {k: r[k] for k in ("model", "n", "mae", "rmsle", "hit_rate", "misses")}
    if args.json:
        print_json(out)
    else:
        print(f"{r['model']}: MAE ${r['mae']:.2f}  RMSLE {r['rmsle']:.3f}  hits {r['hit_rate']:.0%}  (n={r['n']})")
    return 0


def add_openai_parser(finetune_sub: argparse._SubParsersAction) -> None:
    """Add ``openai`` (and its commands) under the ``finetune`` command's sub-parsers."""
    from lab.finetune.openai_data import DEFAULT_MODEL, TRAINING_PRICES

    models = ", ".join(TRAINING_PRICES)
    oa = finetune_sub.add_parser(
        "openai", help="Fine-tune an OpenAI model on the pricer (prepare, validate, launch...)."
    )
    cmds = oa.add_subparsers(dest="openai_command", required=True)

    def priced(p):
        p.add_argument("--model", default=DEFAULT_MODEL, help=f"Base model (default: the course's; priced: {models}).")
        p.add_argument("--epochs", type=int, default=1, help="Epochs for the cost estimate / the job (course: 1).")
        return p

    p = priced(
        cmds.add_parser("prepare", help="Write the course's chat JSONL (train + validation) from the pricer data.")
    )
    p.add_argument("--n", type=int, default=200, help="Training examples (default 200, as the course).")
    p.add_argument("--n-val", type=int, default=50, help="Validation examples (default 50).")
    p.add_argument("--out", required=True, help="Folder for train.jsonl and validation.jsonl.")
    p.add_argument(
        "--json", action="store_true", help='Print {"train", "validation", "examples", "tokens", "est_cost_usd"}.'
    )
    p.set_defaults(func=_prepare)

    p = priced(cmds.add_parser("validate", help="Check a JSONL file as OpenAI's guide does; exit 1 when not ok."))
    p.add_argument("file", help="The JSONL file.")
    p.add_argument(
        "--min-examples",
        type=int,
        default=10,
        help="Fewest examples accepted (OpenAI: 10 for a training file; use 1 for a validation file).",
    )
    p.add_argument(
        "--json", action="store_true", help='Print {"ok", "examples", "tokens", "errors": [{"line", "error"}]}.'
    )
    p.set_defaults(func=_validate)

    def remote(p):
        p.add_argument("--base-url", default=None, help="An OpenAI-shaped server instead of api.openai.com.")
        return p

    p = remote(priced(cmds.add_parser("launch", help="Validate, upload both files, create the job; print its id.")))
    p.add_argument("--train", required=True, help="Training JSONL.")
    p.add_argument("--validation", default=None, help="Validation JSONL (optional but recommended).")
    p.add_argument("--seed", type=int, default=42, help="Job seed (default 42).")
    p.add_argument("--suffix", default="pricer", help="Added to the fine-tuned model's name (default 'pricer').")
    p.add_argument(
        "--wandb-project",
        default=None,
        help="Log to Weights & Biases (link your W&B key in OpenAI's settings first). Default: "
        "$WANDB_PROJECT, or 'gpt-pricer' when WANDB_API_KEY is set.",
    )
    p.set_defaults(func=_launch)

    p = remote(cmds.add_parser("status", help="A job's status, events (newest first) and losses."))
    p.add_argument("job_id")
    p.add_argument("--events", type=int, default=10, help="Events to print without --json (default 10).")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_status)

    p = remote(cmds.add_parser("cancel", help="Cancel a job."))
    p.add_argument("job_id")
    p.set_defaults(func=_cancel)

    p = remote(cmds.add_parser("jobs", help="Past jobs (recorded here; --remote asks OpenAI)."))
    p.add_argument("--remote", action="store_true")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_jobs)

    p = remote(cmds.add_parser("score", help="Score a (fine-tuned) model on the pricer's test items."))
    p.add_argument("model", help="Model id, e.g. ft:gpt-4o-mini-2024-07-18:org:pricer:abc123")
    p.add_argument("--n", type=int, default=20, help="Test items (default 20).")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_score)
