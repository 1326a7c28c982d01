"""``python -m lab finetune plan|run|eval|modal|runs|stop|resume``: the Fine-tune lab from a shell.

    $ python -m lab finetune plan --json
    {"trainable_params": 460800, "total_params": 134975808, "estimated_peak_bytes": ..., "fits": true, ...}
    $ python -m lab finetune run --max-steps 20 --json
    {"run_dir": ".../runs/20260101-120000-ab12", "losses": [3.9, ...], "steps": 20, "peak_bytes": ...}
    $ python -m lab finetune eval .../runs/20260101-120000-ab12 --n 20 --json
    {"n": 20, "base": {"mae": ...}, "adapter": {"mae": ...}}
    $ python -m lab finetune modal --print          # the Modal app's Python source, ready for `modal run`

Without ``--config`` every command uses the defaults (SmolLM2-135M, LoRA r=8 on q/v, CPU-sized); write a config
with the page ("Save YAML") or ``RunConfig(...).save(path)``. Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import argparse
import sys


def _config(args):
    from lab.finetune.config import RunConfig

    cfg = RunConfig.from_file(args.config) if args.config else RunConfig()  # a path, checked, then parsed as YAML
    if getattr(args, "max_steps", None) is not None:
        cfg = RunConfig.from_mapping(cfg.model_dump() | {"max_steps": args.max_steps}, source="--max-steps")
    return cfg


def _plan(args) -> int:
    from lab.cli import print_json
    from lab.finetune.plan import human, plan

    p = plan(_config(args), device=args.device)
    if args.json:
        print_json(p.to_dict())
        return 0
    print(f"{p.base_model} on {p.device} ({p.dtype}, quantization {p.quantization})")
    print(f"trainable {p.trainable_params:,} of {p.total_params:,} parameters ({p.trainable_share:.3%})")
    for row in p.rows():
        print(f"  {row['part']:30} {human(row['bytes']):>10}")
    print(
        f"  {'estimated peak':30} {human(p.estimated_peak_bytes):>10}   device: {human(p.device_bytes)} "
        f"-> {'fits' if p.fits else 'does NOT fit'}"
    )
    for note in p.notes:
        print(f"note: {note}")
    return 0


def _run(args) -> int:
    from lab.cli import print_json
    from lab.finetune.runner import run_foreground

    cfg = _config(args)
    echo = (
        None
        if args.json
        else (
            lambda row: print(
                f"step {row['step']:>5}  loss {row.get('loss', float('nan')):.4f}"
                + (f"  eval {row['eval_loss']:.4f}" if "eval_loss" in row else "")
                + (f"  {row['steps_per_s']:.2f} steps/s" if row.get("steps_per_s") else ""),
                file=sys.stderr,
            )
        )
    )
    result = run_foreground(cfg, echo=echo)
    out = {
        "run_dir": result["run_dir"],
        "losses": result["losses"],
        "steps": result["steps"],
        "peak_bytes": result.get("peak_bytes"),
        "state": result.get("state"),
        "eval_losses": result["eval_losses"],
        "train_seconds": result.get("train_seconds"),
    }
    if args.json:
        print_json(out)
    else:
        losses = out["losses"]
        print(
            f"{out['state']}: {out['steps']} steps, loss {losses[0]:.3f} -> {losses[-1]:.3f}; "
            f"adapter in {out['run_dir']}/adapter"
            if losses
            else f"{out['state']}: no loss logged"
        )
    return 0 if out["state"] in ("finished", "stopped") else 1


def _eval(args) -> int:
    from lab.cli import print_json
    from lab.core.errors import InputError
    from lab.finetune.runner import run_path

    run_path(args.run_dir)  # a wrong folder or a bad --n is said before torch and the models load
    if args.n < 1:
        raise InputError(f"--n {args.n}: evaluate on at least 1 test item (default 20)")
    from lab.finetune.evaluate import evaluate

    r = evaluate(args.run_dir, n=args.n)
    if args.json:
        keep = ("n", "mae", "rmsle", "hit_rate", "misses")
        print_json(
            {
                "run_id": r["run_id"],
                "n": r["n"],
                "adapter_path": r["adapter_path"],
                "base": {k: r["base"][k] for k in keep},
                "adapter": {k: r["adapter"][k] for k in keep},
            }
        )
    else:
        for name in ("base", "adapter"):
            s = r[name]
            print(f"{name:8} MAE ${s['mae']:.2f}  RMSLE {s['rmsle']:.3f}  hits {s['hit_rate']:.0%}  (n={s['n']})")
    return 0


def _modal(args) -> int:
    from lab.finetune import modal_app

    cfg = _config(args)
    secrets = args.secret if args.secret else None
    if args.export or args.run:
        script = modal_app.export(cfg, gpu=args.gpu, secrets=secrets)
        print(f"wrote {script}\nrun it with: {' '.join(modal_app.modal_command(script))}", file=sys.stderr)
        if args.run:
            proc = modal_app.launch(script)
            print(f"modal run started (pid {proc.pid}); log: {script.parent / 'modal.log'}", file=sys.stderr)
    if args.print or not (args.export or args.run):
        print(modal_app.source(cfg, gpu=args.gpu, secrets=secrets))
    return 0


def _runs(args) -> int:
    from lab.cli import print_json
    from lab.finetune.runner import list_runs

    rows = list_runs()
    if args.json:
        print_json(rows)
    for r in [] if args.json else rows:
        print(
            f"{r['run_id']}  {r['state']:11} step {r['step'] or 0}/{r['max_steps'] or '?'}  "
            f"loss {r['first_loss']} -> {r['last_loss']}"
        )
    return 0


def _stop(args) -> int:
    from lab.finetune.runner import stop

    print(f"stop requested for {stop(args.run)['run_id']}")
    return 0


def _resume(args) -> int:
    from lab.finetune.runner import resume

    print(f"resumed {resume(args.run)} in the background")
    return 0


def add_parser(sub: argparse._SubParsersAction) -> None:
    ft = sub.add_parser("finetune", help="LoRA / QLoRA fine-tuning: memory plan, train, evaluate, Modal.")
    cmds = ft.add_subparsers(dest="finetune_command", required=True)

    def with_config(p):
        p.add_argument("--config", default=None, help="A run config YAML (default: the CPU-sized SmolLM2 defaults).")
        return p

    p = with_config(cmds.add_parser("plan", help="Print the memory plan (weights, adapter, optimizer, activations)."))
    p.add_argument("--device", choices=["cpu", "cuda"], default=None, help="Plan for this device (default: detected).")
    p.add_argument(
        "--json", action="store_true", help="JSON with trainable_params, total_params, estimated_peak_bytes..."
    )
    p.set_defaults(func=_plan)

    p = with_config(
        cmds.add_parser("run", help="Train in the foreground; the run folder keeps logs, checkpoints, adapter.")
    )
    p.add_argument("--max-steps", type=int, default=None, help="Override the config's max_steps.")
    p.add_argument("--json", action="store_true", help='At the end print {"run_dir", "losses", "steps", "peak_bytes"}.')
    p.set_defaults(func=_run)

    p = cmds.add_parser("eval", help="Score a run's adapter beside its base model on the pricer's test items.")
    p.add_argument("run_dir", help="A run folder (or run id).")
    p.add_argument("--n", type=int, default=20, help="How many test items (default 20).")
    p.add_argument("--json", action="store_true", help="Print the scoreboard metrics as JSON.")
    p.set_defaults(func=_eval)

    p = with_config(cmds.add_parser("modal", help="Generate (print, export, run) the Modal app for a GPU run."))
    p.add_argument("--print", action="store_true", help="Print the Modal app source (the default action).")
    p.add_argument("--export", action="store_true", help="Prepare a run folder and write modal_app.py into it.")
    p.add_argument(
        "--run", action="store_true", help="Export, then `modal run` it in the background (needs a Modal token)."
    )
    p.add_argument("--gpu", default="L4", help="Modal GPU type: T4, L4, A10G, A100, A100-80GB, H100 (default L4).")
    p.add_argument("--secret", action="append", default=None, help="A Modal secret name to attach (repeatable).")
    p.set_defaults(func=_modal)

    p = cmds.add_parser("runs", help="List past and present runs.")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_runs)
    p = cmds.add_parser("stop", help="Stop a background run cleanly (it checkpoints first).")
    p.add_argument("run")
    p.set_defaults(func=_stop)
    p = cmds.add_parser("resume", help="Resume a stopped or interrupted run from its last checkpoint.")
    p.add_argument("run")
    p.set_defaults(func=_resume)

    from lab.finetune.openai_cli import add_openai_parser  # `finetune openai ...` (issue 14)

    add_openai_parser(cmds)
