"""``python -m lab pipeline`` and ``python -m lab diffuse``: the Pipelines lab from a shell.

    $ python -m lab pipeline text-generation "What is the capital of France?"     # offline: SmolLM2
    [{"generated_text": [..., {"role": "assistant", "content": "The capital of France is Paris."}]}]
    $ python -m lab pipeline ner --tiny --json "Ada Lovelace lived in London."
    {"task": "ner", "model": "tiny untrained ner model", "untrained": true, "note": "TINY UNTRAINED...", "output": [...]}
    $ python -m lab diffuse --tiny --steps 10 --seed 0 --out noise.png "a watercolour fox"
    wrote noise.png (32x32) with tiny untrained DDPM in 0.5 s - TINY UNTRAINED MODEL: ...

``pipeline`` prints the pipeline's output as JSON on stdout (where the model came from goes to stderr);
``--json`` prints one object instead: task, model, source, untrained, note, output, seconds, load (cost).
Heavy imports stay inside the handlers so that ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import sys

from lab.pipelines.tasks import TASKS

TASK_NAMES = list(TASKS)


def _pipeline(args: argparse.Namespace) -> int:
    from lab.cli import print_json
    from lab.pipelines.running import run
    from lab.pipelines.tasks import PipelineOptions

    labels = [s for s in args.labels.split(",")] if args.labels else None
    result = run(
        args.task,
        args.text,
        model=args.model,
        tiny=args.tiny,
        context=args.context,
        labels=labels,
        options=PipelineOptions(max_new_tokens=args.max_new_tokens, top_k=args.top_k),
    )
    if args.json:
        print_json(result.to_dict())
    else:
        print_json(result.output)
        print(
            f"{result.model} ({result.source}), {result.seconds:.2f} s" + (f" - {result.note}" if result.note else ""),
            file=sys.stderr,
        )
    return 0


def _diffuse(args: argparse.Namespace) -> int:
    from pathlib import Path

    from lab.core.errors import InputError
    from lab.pipelines.diffusion import DiffusionOptions, generate

    opts = DiffusionOptions(
        steps=args.steps,
        seed=args.seed,
        guidance=args.guidance,
        width=args.width,
        height=args.height,
        negative_prompt=args.negative_prompt,
    )
    out = Path(args.out).expanduser()
    if out.is_dir() or not out.name:  # said before generating, not after minutes of denoising
        raise InputError(f"--out {args.out} is a folder; give a file name such as {Path(args.out) / 'image.png'}")
    if out.parent.exists() and not out.parent.is_dir():
        raise InputError(f"--out {args.out}: {out.parent} is a file, not a folder")
    result = generate(
        args.prompt,
        opts,
        model=args.model,
        tiny=args.tiny,
        on_step=lambda i, n: print(f"step {i}/{n}", file=sys.stderr, flush=True),
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(result.png)
    w, h = result.image.size
    print(
        f"wrote {out} ({w}x{h}) with {result.model} on {result.device} in {result.seconds:.1f} s"
        + (f" - {result.note}" if result.untrained else "")
    )
    return 0


def add_parser(sub) -> None:
    p = sub.add_parser("pipeline", help="Run a Hugging Face pipeline task on TEXT; prints its output as JSON.")
    p.add_argument("task", choices=TASK_NAMES, metavar="TASK", help=f"One of: {', '.join(TASK_NAMES)}.")
    p.add_argument(
        "text", metavar="TEXT", help="The input (the question, for question-answering; use [MASK] for fill-mask)."
    )
    p.add_argument("--model", default=None, help="Hub id or local folder (default: the course's model for the task).")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="Use a tiny UNTRAINED model built from a config (works offline; random outputs).",
    )
    p.add_argument(
        "--json", action="store_true", help="Print one JSON object with the model, its source, load cost and output."
    )
    p.add_argument("--context", default=None, help="question-answering: the passage that contains the answer.")
    p.add_argument("--labels", default=None, help="zero-shot-classification: comma-separated candidate labels.")
    p.add_argument(
        "--max-new-tokens", type=int, default=40, help="Generation tasks: most tokens to write (default 40)."
    )
    p.add_argument("--top-k", type=int, default=5, help="fill-mask: how many candidates (default 5).")
    p.set_defaults(func=_pipeline)

    p = sub.add_parser("diffuse", help="Generate an image with diffusers and write it as a PNG.")
    p.add_argument("prompt", metavar="PROMPT", help="What the image should show.")
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--model", default=None, help="Hub id or local pipeline folder (default: sd-turbo on CPU, sdxl-turbo on GPU)."
    )
    which.add_argument(
        "--tiny", action="store_true", help="A tiny UNTRAINED DDPM pipeline (offline; the image is noise)."
    )
    p.add_argument("--steps", type=int, default=2, help="Denoising steps (default 2: turbo models need 1-4).")
    p.add_argument("--seed", type=int, default=0, help="Seed of the starting noise (default 0).")
    p.add_argument(
        "--guidance", type=float, default=0.0, help="Classifier-free guidance (default 0, what turbo models expect)."
    )
    p.add_argument("--negative-prompt", default="", help="What to avoid (used when guidance > 1).")
    p.add_argument("--width", type=int, default=512)
    p.add_argument("--height", type=int, default=512)
    p.add_argument("--out", required=True, metavar="FILE.png", help="Where to write the PNG.")
    p.set_defaults(func=_diffuse)
