"""The local model's two engines, without the app: one student alone (tok/s in-process vs through the managed
llama-server), then a concurrency sweep of llama-server (``--parallel`` 1, 2, 4, 8 with as many streams at once)
to choose ``LAB_LOCAL_CONCURRENCY``.

    python -m bench.engines [--max-tokens 128] [--reps 3] [--sweep 1,2,4,8] [--requests 16]

Last line: one JSON object
{"single": {"inprocess_tok_s", "server_tok_s", "ratio"}, "sweep": [{"parallel", "tok_s", "ttft_p50_ms", "per_stream_tok_s"}]}
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

PROMPTS = [
    "Write a short story about a lighthouse keeper.",
    "Explain how rain forms, step by step.",
    "List ten fruits and describe each in one sentence.",
    "Describe a walk through a busy market.",
]


def _msgs(i: int) -> list[dict]:
    return [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]


def single(max_tokens: int, reps: int) -> dict:
    from lab.llm import llama_server, local
    from lab.llm.base import Options, run

    opts = Options(temperature=0.7, seed=1, max_tokens=max_tokens)
    p = local.LocalProvider()
    out = {}
    for eng in ("inprocess", "server"):
        local.engine = lambda e=eng: e  # this process only: pick the path under test
        run(p, _msgs(0), options=opts)  # warm: model loaded / server started
        speeds = [run(p, _msgs(i), options=opts).usage.tokens_per_s or 0.0 for i in range(reps)]
        out[f"{eng}_tok_s"] = round(statistics.median(speeds), 1)
    out["ratio"] = round(out["server_tok_s"] / out["inprocess_tok_s"], 2) if out["inprocess_tok_s"] else None
    llama_server.stop_all()
    return out


def sweep(levels: list[int], n_requests: int, max_tokens: int) -> list[dict]:
    import os

    from lab.core.settings import get_settings
    from lab.gguf.build import server_binary
    from lab.llm import local
    from lab.llm.base import Options
    from lab.llm.llama_server import ManagedServer, server_args

    s = get_settings()
    threads = s.n_threads or max(1, os.cpu_count() or 1)
    rows = []
    for par in levels:
        srv = ManagedServer(
            [
                str(server_binary()),
                *server_args(local.default_model_path(), parallel=par, n_ctx=s.n_ctx, threads=threads),
            ]
        )
        try:
            base = srv.ensure()
            client = local._client(base, srv.api_key)
            opts = Options(temperature=0.7, seed=1, max_tokens=max_tokens)

            def one(i: int, client=client, opts=opts) -> tuple[int, float, float]:
                chunks = list(client.stream(_msgs(i), "m", opts, "m"))
                u = chunks[-1].usage
                return u.completion_tokens, (u.ttft_s or 0) * 1000, u.tokens_per_s or 0.0

            list(ThreadPoolExecutor(par).map(one, range(par)))  # warm the slots
            t0 = time.perf_counter()
            with ThreadPoolExecutor(par) as pool:  # the queue in front lets `par` run at once
                res = list(pool.map(one, range(n_requests)))
            wall = time.perf_counter() - t0
            rows.append(
                {
                    "parallel": par,
                    "requests": n_requests,
                    "tok_s": round(sum(r[0] for r in res) / wall, 1),
                    "ttft_p50_ms": round(statistics.median(r[1] for r in res)),
                    "per_stream_tok_s": round(statistics.median(r[2] for r in res), 1),
                    "wall_s": round(wall, 1),
                }
            )
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
        finally:
            srv.stop()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--sweep", default="1,2,4,8")
    ap.add_argument("--requests", type=int, default=16)
    ap.add_argument("--skip-single", action="store_true")
    args = ap.parse_args()
    from lab.gguf.build import server_binary

    if server_binary() is None:
        sys.exit("llama-server is not built: python -m lab gguf build-server")
    out = {}
    if not args.skip_single:
        out["single"] = single(args.max_tokens, args.reps)
        print(json.dumps(out["single"]), file=sys.stderr, flush=True)
    levels = [int(x) for x in args.sweep.split(",") if x.strip()]
    out["sweep"] = sweep(levels, args.requests, args.max_tokens) if levels else []
    print(json.dumps(out))


if __name__ == "__main__":
    main()
