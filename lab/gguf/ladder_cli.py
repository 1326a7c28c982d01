"""``python -m lab gguf convert|quantize|ladder|tools``: the quantization ladder from a shell.

    $ python -m lab gguf convert ~/.cache/llm-engineering-lab/models/smollm2-135m-instruct-hf --out smol-f16.gguf
    $ python -m lab gguf convert ~/.cache/llm-engineering-lab/runs/20261128-210006-1ebc --out pricer-f16.gguf  # merged first
    $ python -m lab gguf quantize smol-f16.gguf --type Q4_K_M --out smol-Q4_K_M.gguf
    $ python -m lab gguf ladder --types Q8_0,Q4_K_M,Q4_0,Q2_K --json
    [{"type": "F16", "path": "...", "bytes": 270885856, "bpw": 16.0, "ppl": 24.22, "top1_agree": null, ...}, ...]
    $ python -m lab gguf tools          # prepare llama.cpp's converter once (needs PyPI the first time)

``add_ladder_commands(gguf_subparsers)`` adds these to the ``gguf`` group of ``lab.gguf.cli``. Progress goes to
stderr, results to stdout. Heavy imports stay inside the handlers.
"""

from __future__ import annotations

import sys


def _say(msg: str, *_: object) -> None:
    print(msg, file=sys.stderr, flush=True)


def _convert(args) -> int:
    from lab.cli import print_json
    from lab.gguf.convert import convert, human

    r = convert(args.src, args.out, args.outtype, _say)
    if args.json:
        print_json(r.to_dict())
        return 0
    print(
        f"{r.path}: {human(r.bytes)}, {r.outtype.upper()}, {r.architecture}, {r.n_tensors} tensors, "
        f"{r.n_params / 1e6:,.1f}M parameters ({r.source_kind}: {r.source})"
    )
    print("chat template carried over:" if r.chat_template else "no chat template in the source.")
    if r.chat_template:
        print("  " + r.chat_template.replace("\n", "\n  "))
    for w in r.warnings:
        print(f"converter warning: {w}")
    return 0


def _quantize(args) -> int:
    from lab.cli import print_json
    from lab.gguf.convert import human
    from lab.gguf.quantize import quantize

    r = quantize(args.input, args.out, args.type, allow_requantize=args.allow_requantize, progress=_say)
    if args.json:
        print_json(r.to_dict())
        return 0
    print(
        f"{r.path}: {r.type}, {human(r.bytes)} (from {human(r.src_bytes)}), {r.bpw} bits per weight, {r.seconds:.1f} s"
    )
    for line in r.warnings + r.explanation:
        print("- " + line)
    return 0


def _ladder(args) -> int:
    from lab.cli import print_json
    from lab.gguf.ladder import LadderOptions, ladder
    from lab.gguf.quality import load_text

    opts = LadderOptions(
        max_tokens=args.max_tokens,
        n_prompt=args.n_prompt,
        n_gen=args.n_gen,
        repeats=args.repeats,
        n_gpu_layers=args.n_gpu_layers,
        allow_requantize=args.allow_requantize,
    )
    text = load_text(args.text)
    rungs = ladder(args.source, args.types, text, opts, None if args.quiet else _say)
    if args.json:
        print_json([r.to_json() for r in rungs])
        return 0
    print(f"{'type':8} {'MB':>7} {'bpw':>6} {'ppl':>8} {'top1':>6} {'KL':>7} {'pp t/s':>8} {'tg t/s':>7} {'load s':>6}")
    for r in rungs:
        print(
            f"{r.type:8} {r.bytes / 1e6:7.1f} {r.bpw:6.2f} {r.ppl:8.3f} "
            f"{'-' if r.top1_agree is None else f'{r.top1_agree:.3f}':>6} {'-' if r.kl is None else f'{r.kl:.4f}':>7} "
            f"{r.pp_tps:8.1f} {r.tg_tps:7.1f} {r.load_s:6.2f}"
        )
    for r in rungs:
        for line in r.warnings + r.fallbacks:
            print(f"{r.type}: {line}")
    return 0


def _tools(args) -> int:
    from lab.gguf.sdist import converter_script

    print(converter_script(_say, download=not args.no_download))
    return 0


def add_ladder_commands(gguf_subparsers) -> None:
    """Add convert, quantize, ladder and tools to the ``gguf`` command group."""
    sub = gguf_subparsers
    p = sub.add_parser(
        "convert",
        help="A transformers folder, fine-tune run folder (merged first) or Hub id -> GGUF, "
        "with llama.cpp's own convert_hf_to_gguf.py.",
    )
    p.add_argument("src", help="A transformers model folder, a fine-tune run folder, or a Hub id (online).")
    p.add_argument("--out", required=True, help="The .gguf file to write (written to a temp file, then renamed).")
    p.add_argument("--outtype", default="f16", choices=["f16", "bf16", "q8_0"], help="Output type (default f16).")
    p.add_argument("--json", action="store_true", help="Print the result (tensors count, chat template...) as JSON.")
    p.set_defaults(func=_convert)

    p = sub.add_parser("quantize", help="An F16 GGUF -> a smaller type with llama.cpp's llama_model_quantize.")
    p.add_argument("input", metavar="IN.gguf", help="The GGUF to quantize (F16/BF16/F32).")
    p.add_argument(
        "--type", required=True, help="Q8_0, Q6_K, Q5_K_M, Q4_K_M, Q4_0, Q3_K_M, Q2_K, ... (as the build supports)."
    )
    p.add_argument("--out", required=True, help="The .gguf file to write.")
    p.add_argument(
        "--allow-requantize",
        action="store_true",
        help="Quantize a file that is already quantized (quality drops more than from F16).",
    )
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_quantize)

    p = sub.add_parser("ladder", help="Convert, quantize to several types, measure size/ppl/agreement/speed per rung.")
    p.add_argument(
        "--source",
        default=None,
        help="A transformers folder, run folder, Hub id or F16 GGUF (default: the SmolLM2 transformers copy).",
    )
    p.add_argument(
        "--types", default=None, help="Comma-separated types (default: Q8_0,Q6_K,Q5_K_M,Q4_K_M,Q4_0,Q3_K_M,Q2_K)."
    )
    p.add_argument(
        "--text", default=None, help="Held-out text file (default: knowledge-base/company/company-history.md)."
    )
    p.add_argument("--max-tokens", type=int, default=512, help="Tokens of the text scored (default 512).")
    p.add_argument("--n-prompt", type=int, default=128, help="Benchmark prompt tokens.")
    p.add_argument("--n-gen", type=int, default=32, help="Benchmark generated tokens.")
    p.add_argument("--repeats", type=int, default=1, help="Benchmark runs per rung (median).")
    p.add_argument("--n-gpu-layers", type=int, default=0, help="Layers offloaded to the GPU in the benchmark.")
    p.add_argument("--allow-requantize", action="store_true", help="Allow a source GGUF that is already quantized.")
    p.add_argument("--quiet", action="store_true", help="No progress lines on stderr.")
    p.add_argument(
        "--json",
        action="store_true",
        help='Print a JSON list, one {"type", "path", "bytes", "bpw", "ppl", '
        '"top1_agree", "kl", "pp_tps", "tg_tps"} per rung, F16 first.',
    )
    p.set_defaults(func=_ladder)

    p = sub.add_parser("tools", help="Prepare llama.cpp's converter from the llama-cpp-python sdist (once).")
    p.add_argument("--no-download", action="store_true", help="Only use a local sdist (data dir or pip's cache).")
    p.set_defaults(func=_tools)
