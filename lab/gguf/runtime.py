"""Load a GGUF with llama.cpp (CPU or GPU) and chat with it, measuring each reply the way llama.cpp does.

Loading goes through ``lab.llm.local.load_llama``: one shared ``Llama`` per model and settings, used under its
lock (many sessions share one deployment). Before loading, the header is read and the memory estimate checked
(``lab.gguf.fit``); GPU offload is offered only when this llama.cpp build has a GPU backend.

A chat reply streams ``Chunk`` s like every provider; its last chunk carries a ``RunnerUsage``: the usual
``Usage`` plus llama.cpp's own counters - prompt processing (the prompt's tokens evaluated in batches, fast)
and generation (one token at a time, slower: each needs a full pass over the weights).

    >>> model = load(LoadSettings(n_ctx=2048))                           # the bundled SmolLM2, on the CPU
    >>> from lab.llm.base import DEFAULT_SYSTEM                          # the chat's default system prompt
    >>> msgs = [{"role": "system", "content": DEFAULT_SYSTEM},
    ...         {"role": "user", "content": "What is the capital of France?"}]
    >>> reply = run_chat(model, msgs, Sampling(temperature=0))
    >>> reply.text
    'The capital of France is Paris.'
    >>> u = reply.usage; u.prompt_tokens, u.completion_tokens, u.n_ctx_used, u.n_ctx
    (27, 7, 34, 2048)
    >>> u.pp_tps > u.tg_tps             # batched prompt processing beats one-token-at-a-time generation
    True
"""

from __future__ import annotations

import inspect as _pyinspect
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from pydantic import BaseModel, Field

from lab.core.errors import InputError, ProviderError
from lab.gguf.fit import check_fits
from lab.gguf.inspect import read_gguf
from lab.llm.base import Chunk, Message, Response, Usage, validate_messages
from lab.llm.local import LoadedModel, default_model_path, load_llama

BUILD_GPU_HINT = (
    'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python '
    "(needs the CUDA toolkit; -DGGML_METAL=on on Apple, -DGGML_VULKAN=on elsewhere)"
)
CHAT_FORMATS = ["chatml", "llama-3", "llama-2", "mistral-instruct", "gemma", "qwen", "zephyr", "alpaca", "vicuna"]


class LoadSettings(BaseModel):
    """How llama.cpp loads the model. Field descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    n_ctx: int = Field(
        4096,
        ge=256,
        le=131072,
        description="Context window in tokens (prompt + reply). The KV cache grows with it: SmolLM2 needs 22 KB per token.",
    )
    n_threads: int | None = Field(
        None,
        ge=1,
        le=256,
        description="CPU threads for generation (default: LAB_N_THREADS or all cores). More than the physical cores slows it down.",
    )
    n_batch: int = Field(
        512, ge=32, le=4096, description="Prompt-processing batch: how many prompt tokens llama.cpp evaluates per step."
    )
    n_gpu_layers: int = Field(
        0,
        ge=-1,
        le=999,
        description="Layers offloaded to the GPU (0 = CPU only, -1 = all). Needs a llama.cpp build with a GPU backend.",
    )


class Sampling(BaseModel):
    """How the next token is picked from the model's probabilities."""

    model_config = {"extra": "forbid"}

    temperature: float = Field(
        0.7, ge=0.0, le=2.0, description="0 always picks the likeliest token; higher flattens the distribution."
    )
    top_k: int = Field(40, ge=0, le=500, description="Keep only the k likeliest tokens (0 = no limit).")
    top_p: float = Field(
        0.95, gt=0.0, le=1.0, description="Keep the smallest set of tokens whose probabilities add up to top_p."
    )
    min_p: float = Field(
        0.05, ge=0.0, le=1.0, description="Drop tokens less likely than min_p x the likeliest token's probability."
    )
    repeat_penalty: float = Field(
        1.1,
        ge=0.5,
        le=2.0,
        description="Divide the scores of recently used tokens by this (1 = off): fights loops in small models.",
    )
    seed: int | None = Field(
        None, ge=0, le=2**31 - 1, description="Fixed seed: same prompt + same seed gives the same reply."
    )
    max_tokens: int = Field(256, ge=1, le=8192, description="Most tokens generated for the reply.")
    stop: list[str] = Field(
        default_factory=list, max_length=4, description="Stop when one of these strings appears (up to 4)."
    )


@dataclass
class RunnerUsage(Usage):
    """``Usage`` plus llama.cpp's counters. pp = prompt processing, tg = text generation, in tokens per second."""

    pp_tps: float | None = None  # prompt tokens evaluated / their time (a cached prompt prefix is not re-evaluated)
    tg_tps: float | None = None  # generated tokens evaluated / their time
    prompt_eval_tokens: int = 0  # how many prompt tokens llama.cpp actually evaluated this time
    n_ctx_used: int = 0  # tokens in the KV cache after the reply
    n_ctx: int = 0


@dataclass
class GpuBackend:
    available: bool
    detail: str


def gpu_backend() -> GpuBackend:
    """Can this llama.cpp build offload layers to a GPU? (llama.cpp's own answer, not a guess from the machine)."""
    import llama_cpp

    if llama_cpp.llama_supports_gpu_offload():
        return GpuBackend(True, "This llama.cpp build has a GPU backend: layers can be offloaded (n_gpu_layers).")
    return GpuBackend(
        False, "This llama.cpp build is CPU-only, so n_gpu_layers has no effect. To get a GPU build: " + BUILD_GPU_HINT
    )


def no_gpu_message(n_gpu_layers: int) -> str:
    return (
        f"n_gpu_layers={n_gpu_layers} asks for GPU offload, but this llama.cpp build is CPU-only. "
        f"To get a GPU build: {BUILD_GPU_HINT}"
    )


def load(
    settings: LoadSettings | None = None, path: str | Path | None = None, *, available_bytes: int | None = None
) -> LoadedModel:
    """Check the file, the GPU request and the memory estimate, then build (once) the shared model."""
    s = settings or LoadSettings()
    path = Path(path) if path else default_model_path()
    info = read_gguf(path)  # InputError for non-GGUF / damaged / truncated files, before llama.cpp sees them
    if s.n_gpu_layers != 0 and not gpu_backend().available:
        raise InputError(no_gpu_message(s.n_gpu_layers))
    check_fits(info, s.n_ctx, n_batch=s.n_batch, n_gpu_layers=s.n_gpu_layers, available_bytes=available_bytes)
    kw = {"n_batch": s.n_batch} if "n_batch" in _pyinspect.signature(load_llama).parameters else {}
    return load_llama(path, n_ctx=s.n_ctx, n_gpu_layers=s.n_gpu_layers, n_threads=s.n_threads, **kw)


def effective(model: LoadedModel) -> dict:
    """The settings llama.cpp actually runs with (a model shared with another session keeps its own)."""
    cp = model.llm.context_params
    return {
        "model": model.path.name,
        "n_ctx": model.llm.n_ctx(),
        "n_threads": cp.n_threads,
        "n_batch": model.llm.n_batch,
        "n_gpu_layers": model.llm.model_params.n_gpu_layers,
        "chat_format": model.llm.chat_format,
        "cpu_cores": os.cpu_count(),
    }


def chat(
    model: LoadedModel, messages: list[Message], sampling: Sampling | None = None, chat_format: str | None = None
) -> Iterator[Chunk]:
    """Stream a reply. ``chat_format`` None uses the model's own template (from the GGUF), else a named format."""
    import llama_cpp
    from llama_cpp import llama_chat_format

    validate_messages(messages)
    s = sampling or Sampling()
    params = {
        "temperature": s.temperature,
        "top_k": s.top_k,
        "top_p": s.top_p,
        "min_p": s.min_p,
        "repeat_penalty": s.repeat_penalty,
        "max_tokens": s.max_tokens,
        "stop": s.stop or None,
        "seed": s.seed,
    }
    llm = model.llm
    if chat_format:
        if chat_format not in CHAT_FORMATS:
            raise InputError(
                f"Unknown chat format {chat_format!r}; choose one of {', '.join(CHAT_FORMATS)} "
                "or none for the model's own template."
            )
        handler = llama_chat_format.get_chat_completion_handler(chat_format)
        start = lambda: handler(llama=llm, messages=messages, stream=True, **params)  # noqa: E731
    else:
        start = lambda: llm.create_chat_completion(messages=messages, stream=True, **params)  # noqa: E731
    n_pieces, finish, prompt_tokens, ttft = 0, None, 0, None
    with model.lock:
        llama_cpp.llama_perf_context_reset(llm.ctx)
        t0 = time.perf_counter()
        try:
            for ev in start():
                choice = ev["choices"][0]
                piece = choice["delta"].get("content")
                if piece:
                    if ttft is None:
                        # The prompt is evaluated and the first token sampled (not yet fed back): the cache
                        # holds exactly the prompt now.
                        ttft, prompt_tokens = time.perf_counter() - t0, llm.n_tokens
                    n_pieces += 1
                    yield Chunk(text=piece)
                finish = choice.get("finish_reason") or finish
        except ValueError as e:
            if "exceed context window" in str(e):
                raise InputError(
                    f"{e}: the conversation no longer fits in n_ctx={llm.n_ctx():,} tokens. Clear the "
                    "chat, shorten the prompt, or load the model with a larger context."
                ) from e
            raise ProviderError(f"llama.cpp: {e}") from e
        total = time.perf_counter() - t0
        perf = llama_cpp.llama_perf_context(llm.ctx)
        used = llm.n_tokens
    usage = RunnerUsage(
        prompt_tokens or used,
        n_pieces,
        ttft,
        total,
        0.0,
        model.path.name,
        "gguf-runner",
        pp_tps=_rate(perf.n_p_eval, perf.t_p_eval_ms),
        tg_tps=_rate(perf.n_eval, perf.t_eval_ms),
        prompt_eval_tokens=perf.n_p_eval,
        n_ctx_used=used,
        n_ctx=llm.n_ctx(),
    )
    yield Chunk(usage=usage, finish_reason=finish)


def _rate(n: int, ms: float) -> float | None:
    return n / (ms / 1000) if n > 0 and ms > 0 else None


def run_chat(
    model: LoadedModel,
    messages: list[Message],
    sampling: Sampling | None = None,
    chat_format: str | None = None,
    on_text=None,
) -> Response:
    """``chat`` joined into one ``Response`` (its ``usage`` is a ``RunnerUsage``)."""
    parts, usage, finish = [], None, None
    for c in chat(model, messages, sampling, chat_format):
        if c.text:
            parts.append(c.text)
            if on_text:
                on_text(c.text)
        usage = c.usage or usage
        finish = c.finish_reason or finish
    return Response("".join(parts), usage, finish_reason=finish)
