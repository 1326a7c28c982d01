"""``python -m lab gguf ...``: the GGUF runner from a shell.

    $ python -m lab gguf list
    $ python -m lab gguf inspect model.gguf --json     # {"metadata": {"general.architecture": "llama", ...}, "tensors": [...]}
    $ python -m lab gguf fit --n-ctx 8192               # the memory estimate, before loading
    $ python -m lab gguf chat "What is the capital of France?" --temperature 0
    $ python -m lab gguf steps "What is the capital of France?" --n-steps 4
    $ python -m lab gguf bench --json                   # {"pp_tps": 612.3, "tg_tps": 88.1, ...}
    $ python -m lab gguf sweep --layers 0,8,16,-1       # GPU builds only
    $ python -m lab gguf serve --port 8080              # OpenAI-compatible at http://127.0.0.1:8080/v1 until Ctrl+C
    $ LAB_GGUF_API_KEY=$(openssl rand -hex 16) python -m lab gguf serve --host 0.0.0.0   # other machines: key required

Heavy imports (llama_cpp, gguf) happen inside the handlers: ``--help`` stays instant.
"""

from __future__ import annotations

import sys

from lab.llm.base import DEFAULT_SYSTEM


def _json_or(args, obj, text: str) -> None:
    from lab.cli import print_json

    print_json(obj) if args.json else print(text)


def _list(args) -> int:
    from lab.gguf.models import list_models, models_dir

    rows = list_models()
    _json_or(
        args,
        [{"name": m.name, "path": str(m.path), "bytes": m.bytes, "source": m.source} for m in rows],
        "\n".join(f"{m.label}\n  {m.path}" for m in rows) + f"\n(add .gguf files to {models_dir()})",
    )
    return 0


def _inspect(args) -> int:
    from lab.gguf.inspect import read_gguf

    info = read_gguf(args.path)
    if args.json:
        _json_or(args, info.to_json(), "")
        return 0
    f = info.facts
    print(
        f"{info.path.name}: GGUF v{info.version}, {info.file_bytes:,} bytes = header {info.header_bytes:,} "
        f"(metadata + tensor table) + body {info.body_bytes:,} (tensor data)"
    )
    for k, v in f.items():
        if k != "chat_template":
            print(f"  {k:20} {v}")
    print(f"  {'chat_template':20} {'yes' if f['chat_template'] else 'none'} ({len(f['chat_template'] or '')} chars)")
    print(
        f"{len(info.tensors)} tensors; bytes per type: "
        + ", ".join(f"{t} {b / 2**20:.1f} MiB" for t, b in info.bytes_per_type().items())
    )
    return 0


def _model_path(args):
    from lab.llm.local import default_model_path

    return args.model or default_model_path()


def _fit(args) -> int:
    from lab.gguf.fit import check_n_ctx, estimate
    from lab.gguf.inspect import read_gguf

    check_n_ctx(args.n_ctx)  # before reading the header (seconds for a big vocabulary)
    est = estimate(read_gguf(_model_path(args)), args.n_ctx)
    _json_or(
        args,
        {
            "fits": est.fits,
            "host_bytes": est.host_bytes,
            "weights_bytes": est.weights_bytes,
            "kv_bytes": est.kv_bytes,
            "compute_bytes": est.compute_bytes,
            "available_bytes": est.available_bytes,
        },
        ("fits: " if est.fits else "does NOT fit: ") + est.line(),
    )
    return 0 if est.fits else 1


def _load(args):
    from lab.gguf.runtime import LoadSettings, load

    return load(
        LoadSettings(n_ctx=args.n_ctx, n_threads=args.threads, n_gpu_layers=args.n_gpu_layers), _model_path(args)
    )


def _chat(args) -> int:
    from lab.gguf.runtime import Sampling, run_chat

    # options first: a bad one is said at once, not after loading the model
    sampling = Sampling(
        temperature=args.temperature,
        top_k=args.top_k,
        top_p=args.top_p,
        min_p=args.min_p,
        repeat_penalty=args.repeat_penalty,
        seed=args.seed,
        max_tokens=args.max_tokens,
        stop=args.stop,
    )
    model = _load(args)
    msgs = ([{"role": "system", "content": args.system}] if args.system else []) + [
        {"role": "user", "content": args.prompt}
    ]
    reply = run_chat(
        model, msgs, sampling, args.chat_format, on_text=None if args.json else lambda t: print(t, end="", flush=True)
    )
    if args.json:
        _json_or(args, {"text": reply.text, "finish_reason": reply.finish_reason, "usage": reply.usage.to_dict()}, "")
    else:
        u = reply.usage
        print(
            f"\n{u.line()}\nprompt {u.prompt_tokens} tok ({_tps(u.pp_tps)} pp), generation {_tps(u.tg_tps)}, "
            f"context {u.n_ctx_used:,}/{u.n_ctx:,}",
            file=sys.stderr,
        )
    return 0


def _tps(x) -> str:
    return "-" if x is None else f"{x:.1f} tok/s"


def _steps(args) -> int:
    from dataclasses import asdict

    from lab.gguf.steps import check_steps, run_steps

    check_steps(args.n_steps, args.top)
    r = run_steps(
        _load(args),
        args.prompt,
        n_steps=args.n_steps,
        top=args.top,
        temperature=args.temperature,
        use_template=not args.raw,
    )
    if args.json:
        _json_or(args, asdict(r), "")
        return 0
    print(f"tokenize: {len(r.prompt_ids)} tokens {r.prompt_ids}")
    for i, s in enumerate(r.steps, 1):
        cands = "  ".join(f"{c.text!r} {c.prob:.2f}" for c in s.candidates)
        print(f"step {i}: forward {s.forward_ms:.0f} ms | top: {cands} | chosen {s.chosen.text!r}")
    print(f"detokenize: {r.text!r} ({r.stopped})")
    return 0


def _bench(args) -> int:
    from lab.gguf.bench import bench, check_sizes

    check_sizes(args.n_prompt, args.n_gen, args.repeats)
    r = bench(_load(args), n_prompt=args.n_prompt, n_gen=args.n_gen, repeats=args.repeats)
    _json_or(
        args,
        r.to_dict(),
        f"{r.model}: pp {r.pp_tps:.1f} tok/s, tg {r.tg_tps:.1f} tok/s "
        f"(median of {r.repeats}; {r.n_prompt} prompt / {r.n_gen} generated tokens, {r.n_threads} threads, "
        f"n_gpu_layers {r.n_gpu_layers})",
    )
    return 0


def _sweep(args) -> int:
    from lab.core.errors import InputError
    from lab.gguf.bench import check_sizes, sweep

    try:
        layers = [int(x) for x in args.layers.split(",")]
    except ValueError:
        raise InputError("--layers takes comma-separated integers, e.g. 0,8,16,-1") from None
    check_sizes(args.n_prompt, args.n_gen, args.repeats)
    rows = sweep(
        _model_path(args),
        layers,
        n_ctx=args.n_ctx,
        n_threads=args.threads,
        n_prompt=args.n_prompt,
        n_gen=args.n_gen,
        repeats=args.repeats,
    )
    _json_or(
        args,
        [r.to_dict() for r in rows],
        "\n".join(f"n_gpu_layers {r.n_gpu_layers:>4}: pp {r.pp_tps:8.1f}  tg {r.tg_tps:7.1f} tok/s" for r in rows),
    )
    return 0


def _serve(args) -> int:
    import os

    from lab.gguf.server import API_KEY_ENV, serve

    serve(
        args.model,
        args.host,
        args.port,
        n_ctx=args.n_ctx,
        n_gpu_layers=args.n_gpu_layers,
        n_threads=args.threads,
        api_key=args.api_key or os.environ.get(API_KEY_ENV),
    )
    return 0


def _load_args(p, n_ctx: int | None = 4096) -> None:
    p.add_argument("--model", default=None, help="A .gguf path (default: the bundled SmolLM2-135M-Instruct).")
    p.add_argument("--n-ctx", type=int, default=n_ctx, help="Context window in tokens.")
    p.add_argument("--threads", type=int, default=None, help="CPU threads (default: LAB_N_THREADS or all cores).")
    p.add_argument(
        "--n-gpu-layers", type=int, default=0, help="Layers offloaded to the GPU (-1 = all; GPU builds only)."
    )


def add_parser(subparsers) -> None:
    top = subparsers.add_parser(
        "gguf", help="GGUF runner: inspect, chat, steps, bench, serve; convert, quantize, ladder (llama.cpp)."
    )
    sub = top.add_subparsers(dest="gguf_command", required=True)

    p = sub.add_parser("list", help="The GGUFs the lab can run: bundled + the models folder.")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_list)

    p = sub.add_parser("inspect", help="Header metadata and tensor table, without loading the weights.")
    p.add_argument("path", help="A .gguf file.")
    p.add_argument("--json", action="store_true", help='Print {"metadata": {KEY: VALUE}, "tensors": [...]}.')
    p.set_defaults(func=_inspect)

    p = sub.add_parser("fit", help="Memory estimate (weights + KV cache + compute) against free RAM.")
    p.add_argument("--model", default=None)
    p.add_argument("--n-ctx", type=int, default=4096)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_fit)

    p = sub.add_parser("chat", help="One reply, streamed, with llama.cpp's speed counters.")
    _load_args(p)
    p.add_argument("prompt")
    p.add_argument(
        "--system", default=DEFAULT_SYSTEM, help="System prompt ('' for none): a 135M model needs the nudge."
    )
    p.add_argument("--chat-format", default=None, help="A named chat format instead of the model's own template.")
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--top-k", type=int, default=40)
    p.add_argument("--top-p", type=float, default=0.95)
    p.add_argument("--min-p", type=float, default=0.05)
    p.add_argument("--repeat-penalty", type=float, default=1.1)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--max-tokens", type=int, default=256)
    p.add_argument("--stop", action="append", default=[], help="A stop string (repeatable).")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_chat)

    p = sub.add_parser("steps", help="tokenize -> forward pass -> sample -> detokenize, with the top candidates.")
    _load_args(p)
    p.add_argument("prompt")
    p.add_argument("--n-steps", type=int, default=8)
    p.add_argument("--top", type=int, default=5)
    p.add_argument("--temperature", type=float, default=0.0)
    p.add_argument("--raw", action="store_true", help="Tokenize the prompt as is, without the chat template.")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_steps)

    p = sub.add_parser("bench", help="Prompt-processing and generation tok/s (median of repeated runs).")
    _load_args(p, n_ctx=2048)
    p.add_argument("--n-prompt", type=int, default=128)
    p.add_argument("--n-gen", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true", help='Print {"pp_tps", "tg_tps", ...}.')
    p.set_defaults(func=_bench)

    p = sub.add_parser("sweep", help="Bench at several n_gpu_layers values (GPU builds only).")
    _load_args(p, n_ctx=2048)
    p.add_argument("--layers", default="0,8,16,24,-1", help="Comma-separated n_gpu_layers values (-1 = all).")
    p.add_argument("--n-prompt", type=int, default=128)
    p.add_argument("--n-gen", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_sweep)

    p = sub.add_parser(
        "serve", help="Serve the model OpenAI-compatibly (/v1/models, /v1/chat/completions) until stopped."
    )
    _load_args(p, n_ctx=None)
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="Listen address (default 127.0.0.1: this machine only). Any other, e.g. 0.0.0.0, needs --api-key.",
    )
    p.add_argument("--port", type=int, default=8080)
    p.add_argument(
        "--api-key",
        default=None,
        metavar="KEY",
        help="Clients must send 'Authorization: Bearer KEY' (default: $LAB_GGUF_API_KEY; required off loopback).",
    )
    p.set_defaults(func=_serve)

    p = sub.add_parser(
        "build-server",
        help="Build llama.cpp's llama-server (+ llama-bench, llama-perplexity) from the "
        "installed llama-cpp-python's sources, once (5-7 min on 2 cores; cached).",
    )
    p.add_argument(
        "--targets", default="llama-server,llama-bench,llama-perplexity", help="CMake targets, comma-separated."
    )
    p.add_argument("--jobs", type=int, default=2, help="Parallel compile jobs (default 2).")
    p.add_argument("--json", action="store_true", help='{"ok", "bin", "binaries", "flags"} or {"ok": false, "error"}')
    p.add_argument("--print", action="store_true", help="Print the cmake command lines and exit.")
    p.set_defaults(
        func=lambda a: __import__("lab.gguf.build", fromlist=["run_cli"]).run_cli(a.targets, a.jobs, a.json, a.print)
    )

    from lab.gguf.ladder_cli import add_ladder_commands  # convert, quantize, ladder (issue 13)

    add_ladder_commands(sub)
