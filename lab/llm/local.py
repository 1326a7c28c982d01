"""llama.cpp in-process: a GGUF on the CPU (or GPU), answering in the same shapes as the remote providers.

llama-cpp-python's ``create_chat_completion`` already returns OpenAI-shaped dicts and reads the chat template
from the GGUF's metadata, so this adapter is thin. What it adds:
- **one shared ``Llama`` per model file**, built once and guarded by a lock: a ``Llama`` holds one KV cache
  and is not thread-safe, and 30 students on one deployment share it (as llama-cpp-python's own server does);
- JSON Schema constrained decoding (``response_format={"type": "json_object", "schema": ...}``): llama.cpp
  turns the schema into a grammar, so even a 135M model emits JSON that parses;
- usage with time to first token and tok/s, counted from the stream.

    >>> p = LocalProvider()                       # the bundled SmolLM2-135M-Instruct (Q4_1, 98 MB)
    >>> from lab.llm.base import run, Options
    >>> msgs = [{"role": "system", "content": "Answer briefly and factually."},
    ...         {"role": "user", "content": "What is the capital of France?"}]
    >>> run(p, msgs, options=Options(temperature=0)).text
    'The capital of France is Paris.'
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lab.config import get_settings

# llama.cpp is built with OpenMP, whose idle threads spin by default: on shared cores (a classroom server, CI)
# that made generation 4-6x slower in our measurements. Passive waiting costs nothing on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from lab.llm.base import Chunk, InputError, Message, Options, ProviderError, ProviderUnavailable, Timer, ToolCall, Usage, validate_messages


@dataclass
class LoadedModel:
    llm: object            # llama_cpp.Llama
    lock: threading.Lock   # hold it for the whole of one generation
    path: Path
    n_ctx: int


_MODELS: dict[tuple, LoadedModel] = {}
_MODELS_LOCK = threading.Lock()


@atexit.register
def _close_all() -> None:
    # Free llama.cpp models while the interpreter is whole: left to __del__ at shutdown, llama-cpp-python
    # prints "TypeError: 'NoneType' object is not callable" tracebacks.
    for m in _MODELS.values():
        m.llm.close()
    _MODELS.clear()


def default_model_path() -> Path:
    from lab import assets

    path = get_settings().local_model or assets.smollm2_gguf()
    if path is None or not Path(path).exists():
        raise ProviderUnavailable("The local model is missing: " + assets.fix_for("smollm2-gguf"))
    return Path(path)


def load_llama(path: str | Path | None = None, *, n_ctx: int | None = None, n_gpu_layers: int = 0,
               logits_all: bool = False, n_threads: int | None = None, n_batch: int = 512) -> LoadedModel:
    """Build (once) and return the shared llama.cpp model for ``path`` with these settings."""
    path = Path(path) if path else default_model_path()
    n_ctx = n_ctx or get_settings().n_ctx
    threads = n_threads or get_settings().n_threads or max(1, os.cpu_count() or 1)
    key = (str(path), n_ctx, n_gpu_layers, logits_all, threads, n_batch)
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                from llama_cpp import Llama
            except ImportError as e:  # pragma: no cover - the setup installs it
                raise ProviderUnavailable("llama-cpp-python is not installed: run `make run` (or pip install llama-cpp-python).") from e
            from lab.gguf.check import check_gguf_file

            check_gguf_file(path)
            llm = Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=n_gpu_layers, logits_all=logits_all,
                        n_threads=threads, n_batch=n_batch, verbose=False)
            _MODELS[key] = LoadedModel(llm, threading.Lock(), path, n_ctx)
        return _MODELS[key]


class LocalProvider:
    name = "local"

    def __init__(self, model_path: str | Path | None = None, n_ctx: int | None = None, n_gpu_layers: int = 0) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers

    @property
    def default_model(self) -> str:
        return (self.model_path or default_model_path()).name

    def stream(self, messages: list[Message], *, model: str | None = None, options: Options | None = None,
               tools: list[dict] | None = None) -> Iterator[Chunk]:
        validate_messages(messages)
        # A tool-call turn has content None; chat templates (SmolLM2's included) concatenate strings and fail on it.
        messages = [{**m, "content": m.get("content") or ""} for m in messages]
        options = options or Options()
        path = Path(model) if model and model.endswith(".gguf") else self.model_path
        loaded = load_llama(path, n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, logits_all=options.logprobs > 0)
        params: dict = {"temperature": options.temperature, "top_p": options.top_p, "max_tokens": options.max_tokens,
                        "stop": options.stop or None}
        if options.seed is not None:
            params["seed"] = options.seed
        if options.json_schema:
            params["response_format"] = {"type": "json_object", "schema": options.json_schema}
        elif options.json_mode:
            params["response_format"] = {"type": "json_object"}
        if tools:
            params["tools"] = tools
        if options.logprobs:
            params["logprobs"] = True
            params["top_logprobs"] = options.logprobs
        name = loaded.path.name
        timer = Timer()
        with loaded.lock:
            try:
                if not options.stream:
                    resp = loaded.llm.create_chat_completion(messages=messages, **params)
                    timer.first()
                    yield self._from_response(resp, name, timer)
                    return
                n_pieces, finish = 0, None
                for ev in loaded.llm.create_chat_completion(messages=messages, stream=True, **params):
                    choice = ev["choices"][0]
                    piece = choice["delta"].get("content")
                    if piece:
                        timer.first()
                        n_pieces += 1
                        yield Chunk(text=piece, logprobs=_logprobs(choice))
                    finish = choice.get("finish_reason") or finish
                n_prompt = max(0, loaded.llm.n_tokens - n_pieces)
            except ValueError as e:
                if "exceed context window" in str(e):
                    raise InputError(f"{e}. Shorten the conversation or load the model with a larger context (LAB_N_CTX).") from e
                raise ProviderError(f"llama.cpp: {e}") from e
        yield Chunk(usage=Usage(n_prompt, n_pieces, timer.ttft, timer.total(), 0.0, name, self.name), finish_reason=finish)

    def _from_response(self, resp: dict, name: str, timer: Timer) -> Chunk:
        choice = resp["choices"][0]
        msg = choice["message"]
        calls = [ToolCall(tc["id"], tc["function"]["name"], tc["function"]["arguments"]) for tc in msg.get("tool_calls") or []]
        u = resp.get("usage") or {}
        usage = Usage(u.get("prompt_tokens", 0), u.get("completion_tokens", 0), timer.ttft, timer.total(), 0.0, name, self.name)
        return Chunk(text=msg.get("content") or "", tool_calls=calls or None, usage=usage,
                     finish_reason=choice.get("finish_reason"), logprobs=_logprobs(choice))


def _logprobs(choice: dict) -> list[dict] | None:
    """OpenAI-shaped ``logprobs.content`` → ``[{"token", "logprob", "top": {token: logprob}}]``."""
    lp = choice.get("logprobs")
    if not lp or not lp.get("content"):
        return None
    return [{"token": c["token"], "logprob": c["logprob"],
             "top": {t["token"]: t["logprob"] for t in c.get("top_logprobs", [])}} for c in lp["content"]]
