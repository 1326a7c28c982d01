"""How fast does this model run here? Prompt processing and generation, in tokens per second (median of runs).

The two numbers llama.cpp's own ``llama-bench`` reports, measured the same way:
- **pp** (prompt processing): ``n_prompt`` tokens evaluated in one batched forward pass. Matrix-matrix work,
  so it uses the cores well: hundreds to thousands of tok/s.
- **tg** (text generation): ``n_gen`` tokens evaluated one at a time, each fed back (greedy). Every token reads
  all the weights once, so it is bound by memory bandwidth: far fewer tok/s.

    >>> r = bench(load(), n_prompt=128, n_gen=32, repeats=3)
    >>> r.pp_tps, r.tg_tps                 # SmolLM2 Q4_1, 2 idle cores: about (600, 90)
    >>> sweep(path, [0, 8, 16, 31])        # GPU builds only: tg tok/s as more layers move to the GPU

The median, not the mean: one run disturbed by another process should not move the figure.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from lab.core.errors import InputError
from lab.llm.local import LoadedModel

FILLER = "The quick brown fox jumps over the lazy dog while the library's clock strikes noon and a tram passes by. "


@dataclass
class BenchResult:
    model: str
    pp_tps: float
    tg_tps: float
    n_prompt: int
    n_gen: int
    repeats: int
    n_threads: int
    n_gpu_layers: int
    gpu_backend: bool
    pp_runs: list[float] = field(default_factory=list)
    tg_runs: list[float] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def prompt_tokens(model: LoadedModel, n: int) -> list[int]:
    """Exactly ``n`` token ids of plain English (llama-bench uses random ids; real text is easier to read)."""
    one = model.llm.tokenize(FILLER.encode(), add_bos=False)
    return (one * (n // len(one) + 1))[:n]


def measure(model: LoadedModel, n_prompt: int, n_gen: int) -> tuple[float, float]:
    """One run: (pp tok/s, tg tok/s). Call with the model's lock held."""
    import llama_cpp

    llm = model.llm
    llm.reset()
    ids = prompt_tokens(model, n_prompt)
    t0 = time.perf_counter()
    llm.eval(ids)
    pp = n_prompt / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n_gen):
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        llm.eval([int(logits.argmax())])
    tg = n_gen / (time.perf_counter() - t0)
    llm.reset()
    return pp, tg


def check_sizes(n_prompt: int, n_gen: int, repeats: int) -> None:
    """The benchmark sizes accepted (checked before a model loads, by the CLI too)."""
    if not (1 <= n_prompt <= 8192 and 1 <= n_gen <= 2048 and 1 <= repeats <= 20):
        raise InputError("Benchmark sizes: n_prompt 1-8192, n_gen 1-2048, repeats 1-20.")


def bench(
    model: LoadedModel, *, n_prompt: int = 128, n_gen: int = 32, repeats: int = 3, warmup: bool = True
) -> BenchResult:
    """Median pp and tg tok/s over ``repeats`` runs (after one short warm-up run that is not counted)."""
    from lab.gguf.runtime import gpu_backend

    check_sizes(n_prompt, n_gen, repeats)
    llm = model.llm
    if n_prompt + n_gen > llm.n_ctx():
        raise InputError(
            f"n_prompt + n_gen = {n_prompt + n_gen:,} tokens does not fit in n_ctx={llm.n_ctx():,}: "
            "lower them or load a larger context."
        )
    pps, tgs = [], []
    with model.lock:
        if warmup:  # first touches of the mmapped weights page them in: not what we want to measure
            measure(model, min(n_prompt, 16), min(n_gen, 4))
        for _ in range(repeats):
            pp, tg = measure(model, n_prompt, n_gen)
            pps.append(pp)
            tgs.append(tg)
    return BenchResult(
        model.path.name,
        statistics.median(pps),
        statistics.median(tgs),
        n_prompt,
        n_gen,
        repeats,
        llm.context_params.n_threads,
        llm.model_params.n_gpu_layers,
        gpu_backend().available,
        pps,
        tgs,
    )


def sweep(
    path: str | Path,
    layers: list[int],
    *,
    n_ctx: int = 2048,
    n_threads: int | None = None,
    n_prompt: int = 128,
    n_gen: int = 32,
    repeats: int = 3,
) -> list[BenchResult]:
    """Benchmark with each ``n_gpu_layers`` in ``layers`` (GPU builds only).

    Each setting gets its own temporary ``Llama``, closed right after: the shared cache (load_llama) would keep
    every variant in GPU memory for the life of the app.
    """
    import threading

    from llama_cpp import Llama

    from lab.core.gguf_check import check_gguf_file
    from lab.gguf.runtime import gpu_backend

    gpu = gpu_backend()
    if not gpu.available:
        raise InputError("An n_gpu_layers sweep needs GPU offload. " + gpu.detail)
    check_gguf_file(Path(path))
    out = []
    for n in layers:
        llm = Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n, n_threads=n_threads, verbose=False)
        try:
            out.append(
                bench(
                    LoadedModel(llm, threading.Lock(), Path(path), n_ctx),
                    n_prompt=n_prompt,
                    n_gen=n_gen,
                    repeats=repeats,
                )
            )
        finally:
            llm.close()
    return out
