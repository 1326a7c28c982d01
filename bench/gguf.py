"""GGUF runner vs raw llama-cpp-python: generation speed of the same model, threads, prompt and sampling.

The runner (``lab.gguf.runtime.chat``) adds a shared model behind a lock, perf-counter reads and ``Chunk``
objects around ``create_chat_completion``; this measures what that costs. Rounds alternate raw / runner so a
noisy neighbour hits both alike; each side's figure is the median over rounds. Goal: ratio >= 0.95.

    $ .venv/bin/python -m bench.gguf
    raw llama-cpp-python  tg  87.9 tok/s  (runs: 86.1 87.9 88.4)
    lab runner            tg  87.2 tok/s  (runs: 87.2 86.5 88.0)   self-reported tg 89.0 tok/s
    ratio runner/raw (generation tok/s): 0.99  (goal >= 0.95)

Generation tok/s is measured by the consumer on both sides: (tokens - 1) / (time of last token - time of first).
"""

from __future__ import annotations

import os
import statistics
import sys
import time

# Both sides run in this process, so this changes nothing in the ratio; it lets the benchmark finish on a shared
# machine, where llama.cpp's spinning OpenMP threads run 4-6x slower (see lab/gguf/server.py).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

ROUNDS = 5
MAX_TOKENS = 96
N_CTX = 2048
MESSAGES = [
    {"role": "system", "content": "You are a storyteller."},
    {"role": "user", "content": "Write a long story about a lighthouse keeper and a storm."},
]
SAMPLING = {
    "temperature": 0.0,
    "top_k": 40,
    "top_p": 0.95,
    "min_p": 0.05,
    "repeat_penalty": 1.1,
    "max_tokens": MAX_TOKENS,
}


def _tg(stamps: list[float]) -> float:
    return (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 2 and stamps[-1] > stamps[0] else 0.0


def raw_run(llm) -> tuple[float, int]:
    stamps = []
    for ev in llm.create_chat_completion(messages=MESSAGES, stream=True, **SAMPLING):
        if ev["choices"][0]["delta"].get("content"):
            stamps.append(time.perf_counter())
    return _tg(stamps), len(stamps)


def runner_run(model) -> tuple[float, int, float | None]:
    from lab.gguf.runtime import Sampling, chat

    stamps, usage = [], None
    for c in chat(model, MESSAGES, Sampling(**SAMPLING)):
        if c.text:
            stamps.append(time.perf_counter())
        usage = c.usage or usage
    return _tg(stamps), len(stamps), usage.tg_tps


def main() -> dict:
    from llama_cpp import Llama

    from lab.core.settings import get_settings
    from lab.gguf.runtime import LoadSettings, load
    from lab.llm.local import default_model_path

    path = default_model_path()
    threads = get_settings().n_threads or max(1, os.cpu_count() or 1)
    print(
        f"model {path.name}, {threads} threads, n_ctx {N_CTX}, {MAX_TOKENS} tokens greedy, {ROUNDS} rounds, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', '(unset)')}",
        flush=True,
    )
    # Same constructor arguments as lab.llm.local.load_llama uses for the runner's shared model.
    raw = Llama(model_path=str(path), n_ctx=N_CTX, n_gpu_layers=0, n_threads=threads, verbose=False)
    model = load(LoadSettings(n_ctx=N_CTX, n_threads=threads), path)
    raw_run(raw), runner_run(model)  # warm-up: page the weights in, fill both prompt caches
    raws, runs, selfs = [], [], []
    for _ in range(ROUNDS):
        tg, n_raw = raw_run(raw)
        raws.append(tg)
        tg, n_run, own = runner_run(model)
        runs.append(tg)
        selfs.append(own or 0.0)
    raw.close()
    r, m = statistics.median(raws), statistics.median(runs)
    ratio = m / r if r else 0.0
    print(f"raw llama-cpp-python  tg {r:6.1f} tok/s  (runs: {' '.join(f'{x:.1f}' for x in raws)}; {n_raw} pieces)")
    print(
        f"lab runner            tg {m:6.1f} tok/s  (runs: {' '.join(f'{x:.1f}' for x in runs)}; {n_run} pieces)"
        f"   self-reported tg {statistics.median(selfs):.1f} tok/s"
    )
    print(f"ratio runner/raw (generation tok/s): {ratio:.2f}  (goal >= 0.95)")
    return {"raw_tg_tps": r, "runner_tg_tps": m, "ratio": ratio, "threads": threads}


if __name__ == "__main__":
    sys.exit(0 if main()["ratio"] >= 0.95 else 1)
