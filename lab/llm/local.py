"""llama.cpp in-process: a GGUF on the CPU (or GPU), answering in the same shapes as the remote providers.

llama-cpp-python's ``create_chat_completion`` already returns OpenAI-shaped dicts and reads the chat template
from the GGUF's metadata, so this adapter is thin. What it adds:
- **one shared ``Llama`` per model file**, built once and guarded by a lock: a ``Llama`` holds one KV cache
  and is not thread-safe, and 30 students on one deployment share it (as llama-cpp-python's own server does);
- JSON Schema constrained decoding (``response_format={"type": "json_object", "schema": ...}``): llama.cpp
  turns the schema into a grammar, so even a 135M model emits JSON that parses;
- usage with time to first token and tok/s, counted from the stream.

**Engines** (``LAB_LOCAL_ENGINE``, see :func:`engine`): the same provider can instead stream from llama.cpp's own
``llama-server`` (:mod:`lab.llm.llama_server`), a managed process that decodes ``LAB_LOCAL_CONCURRENCY`` replies
together (continuous batching) - the app's default when the binary is built (``python -m lab gguf build-server``)
- or from the deployment's engines in ``LAB_LOCAL_BASE_URLS`` (:mod:`lab.llm.router`, least-busy). Both speak the OpenAI wire
format: text, usage (TTFT, tok/s) and JSON-schema structured output go through them. What only the in-process
path does - next-token logprobs, ``tools=``, another GGUF than the local model - always runs in-process here.

    >>> p = LocalProvider()                       # the bundled SmolLM2-135M-Instruct (Q4_1, 98 MB)
    >>> from lab.llm.base import DEFAULT_SYSTEM, Options, run
    >>> msgs = [{"role": "system", "content": DEFAULT_SYSTEM},
    ...         {"role": "user", "content": "What is the capital of France?"}]
    >>> run(p, msgs, options=Options(temperature=0)).text
    'The capital of France is Paris.'

One module because loading the model, choosing the engine (in process, managed server, router), falling back
between them and the provider that streams through the choice are one decision path; ~440 lines.
"""

from __future__ import annotations

import atexit
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from lab.core.settings import get_settings

# llama.cpp is built with OpenMP, whose idle threads spin by default: on shared cores (a classroom server, CI)
# that made generation 4-6x slower in our measurements. Passive waiting costs nothing on an idle machine.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from lab.core.errors import InputError, ProviderError, ProviderTimeout, ProviderUnavailable
from lab.llm.base import Chunk, Message, Options, Timer, ToolCall, Usage, begin


@dataclass
class LoadedModel:
    llm: object  # llama_cpp.Llama
    lock: threading.Lock  # hold it for the whole of one generation
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
    from lab.core import assets

    path = get_settings().local_model or assets.smollm2_gguf()
    if path is None or not Path(path).exists():
        raise ProviderUnavailable("The local model is missing: " + assets.fix_for("smollm2-gguf"))
    return Path(path)


def load_llama(
    path: str | Path | None = None,
    *,
    n_ctx: int | None = None,
    n_gpu_layers: int = 0,
    logits_all: bool = False,
    n_threads: int | None = None,
    n_batch: int = 512,
) -> LoadedModel:
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
                raise ProviderUnavailable(
                    "llama-cpp-python is not installed: run `make run` (or pip install llama-cpp-python)."
                ) from e
            from lab.core.gguf_check import check_gguf_file

            check_gguf_file(path)
            llm = Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_gpu_layers=n_gpu_layers,
                logits_all=logits_all,
                n_threads=threads,
                n_batch=n_batch,
                verbose=False,
            )
            _MODELS[key] = LoadedModel(llm, threading.Lock(), path, n_ctx)
        return _MODELS[key]


# ---------------------------------------------------------------------------------------------- engines
_APP_DEFAULTS = False
_FALLBACK_NOTE: str | None = None  # why a request that wanted the server ran in-process (last time)


def use_app_defaults(on: bool = True) -> None:
    """The app calls this: with ``LAB_LOCAL_ENGINE=auto`` it then prefers the managed server when built. The
    command line does not: a one-shot ``python -m lab chat`` loads the model in-process (no server to start)."""
    global _APP_DEFAULTS
    _APP_DEFAULTS = on


def engine() -> str:
    """'remote' (LAB_LOCAL_BASE_URLS set), 'server' (managed llama-server) or 'inprocess'."""
    from lab.core.llamacpp_build import server_binary
    from lab.llm.router import base_urls

    if base_urls():
        return "remote"
    choice = get_settings().local_engine
    if choice == "inprocess" or (choice == "auto" and not _APP_DEFAULTS):
        return "inprocess"
    return "server" if server_binary() is not None else "inprocess"


def engine_status() -> dict:
    """What the app says about the local engine: which one, why, and its state."""
    from lab.core.llamacpp_build import server_binary

    eng, choice = engine(), get_settings().local_engine
    from lab.llm.llama_server import concurrency

    out: dict = {"engine": eng, "setting": choice, "concurrency": concurrency(eng)}
    if eng == "remote":
        from lab.llm.router import shared_router

        out["engines"] = shared_router().status()
        out["detail"] = f"{len(out['engines'])} OpenAI-compatible engines (LAB_LOCAL_BASE_URLS), least-busy routing"
    elif eng == "server":
        from lab.llm.llama_server import managed_server

        srv = managed_server()
        out |= {
            "server": srv.status() if srv else None,
            "detail": f"llama-server, {out['concurrency']} replies decoded together (continuous batching)",
        }
    else:
        built = server_binary() is not None
        out["detail"] = "llama.cpp in-process, one reply at a time" + (
            "" if built or choice == "inprocess" else " (llama-server is not built: `python -m lab gguf build-server`)"
        )
    if _FALLBACK_NOTE:
        out["fallback"] = _FALLBACK_NOTE
    return out


def warm_up() -> None:
    """Load what the engine needs before students ask: start the managed server, or load the model in-process."""
    eng = engine()
    if eng == "server":
        from lab.llm.llama_server import managed_server

        srv = managed_server()
        if srv is not None:
            try:
                srv.ensure()
                return
            except ProviderUnavailable as e:
                _note_fallback(str(e))
    if eng != "remote":
        load_llama()


def _note_fallback(why: str) -> None:
    global _FALLBACK_NOTE
    import logging

    _FALLBACK_NOTE = why
    logging.getLogger(__name__).warning("local model: llama-server unavailable, running in-process: %s", why)


class _WireClient:
    """An OpenAI-format streaming client for an engine the deployment started or listed (trusted: no URL guard,
    its own key, never a provider key from the environment)."""

    def __init__(self, base_url: str, api_key: str) -> None:
        from lab.core.clients import openai_client

        self.base_url = base_url
        # max_retries=0: an engine that fails before the first token is marked down and the next one is tried.
        self.client = openai_client(api_key=api_key, base_url=base_url, max_retries=0)

    def stream(self, messages: list[Message], model: str, options: Options, label: str) -> Iterator[Chunk]:
        import openai

        from lab.llm.errors import translate
        from lab.llm.openai_provider import OpenAIProvider

        params = OpenAIProvider._params(None, options, None)  # the same wire parameters as the openai provider
        timer = Timer()
        n_pieces, finish, usage_raw = 0, None, None
        try:
            if not options.stream:
                resp = self.client.chat.completions.create(model=model, messages=messages, **params)
                timer.first()
                choice = resp.choices[0]
                u = resp.usage
                yield Chunk(
                    text=choice.message.content or "",
                    finish_reason=choice.finish_reason,
                    usage=Usage(
                        u.prompt_tokens if u else 0,
                        u.completion_tokens if u else 0,
                        timer.ttft,
                        timer.total(),
                        0.0,
                        label,
                        "local",
                    ),
                )
                return
            with self.client.chat.completions.create(
                model=model, messages=messages, stream=True, stream_options={"include_usage": True}, **params
            ) as events:
                for ev in events:
                    if ev.usage:
                        usage_raw = ev.usage
                    for choice in ev.choices or []:
                        if choice.delta and choice.delta.content:
                            timer.first()
                            n_pieces += 1
                            yield Chunk(text=choice.delta.content)
                        finish = choice.finish_reason or finish
        except openai.OpenAIError as e:
            err = translate(e, openai, "local", self.base_url)
            if isinstance(err, ProviderTimeout) or (isinstance(e, openai.APIStatusError) and e.status_code >= 500):
                # the engine's fault, not the request's: marked down, and the next engine is tried (bench.routers
                # measured it: as a ProviderError, an engine answering 500 at once looked least busy and drew
                # every request for as long as it failed)
                err = ProviderUnavailable(str(err))
            err.started = n_pieces > 0  # type: ignore[attr-defined]
            raise err from e
        if finish is None:
            # llama-server, vLLM and Ollama always end a reply with a finish reason; a stream that just stops was cut
            # off (the engine died or the connection dropped): an error, not a silently short answer
            err = ProviderUnavailable(f"The local engine at {self.base_url} stopped mid-reply; what arrived is kept.")
            err.started = n_pieces > 0  # type: ignore[attr-defined]
            raise err
        pt = usage_raw.prompt_tokens if usage_raw else 0
        ct = usage_raw.completion_tokens if usage_raw else n_pieces
        yield Chunk(usage=Usage(pt, ct, timer.ttft, timer.total(), 0.0, label, "local"), finish_reason=finish)


_CLIENTS: dict[tuple[str, str], _WireClient] = {}


def _client(base_url: str, api_key: str) -> _WireClient:
    key = (base_url, api_key)
    if key not in _CLIENTS:
        _CLIENTS[key] = _WireClient(base_url, api_key)
    return _CLIENTS[key]


def build(*, model: str | None = None, **_ignored) -> "LocalProvider":
    """The registry's factory (``lab.llm.REGISTRY``): ``model`` picks another GGUF file when it names one."""
    return LocalProvider(model_path=model if model and model.endswith(".gguf") else None)


class LocalProvider:
    name = "local"

    def __init__(self, model_path: str | Path | None = None, n_ctx: int | None = None, n_gpu_layers: int = 0) -> None:
        self.model_path = Path(model_path) if model_path else None
        self.n_ctx = n_ctx
        self.n_gpu_layers = n_gpu_layers

    @property
    def default_model(self) -> str:
        return (self.model_path or default_model_path()).name

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]:
        messages, options, timer = begin(messages, options)
        # A tool-call turn has content None; chat templates (SmolLM2's included) concatenate strings and fail on it.
        messages = [{**m, "content": m.get("content") or ""} for m in messages]
        path = Path(model) if model and model.endswith(".gguf") else self.model_path
        if self._wire_ok(path, options, tools):
            eng = engine()
            if eng == "remote":
                yield from self._stream_remote(messages, options)
                return
            if eng == "server":
                fell_back = yield from self._stream_server(messages, options)
                if not fell_back:
                    return
        loaded = load_llama(path, n_ctx=self.n_ctx, n_gpu_layers=self.n_gpu_layers, logits_all=options.logprobs > 0)
        params: dict = {
            "temperature": options.temperature,
            "top_p": options.top_p,
            "max_tokens": options.max_tokens,
            "stop": options.stop or None,
        }
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
        timer.restart()  # the clock measures generation: loading the model (seconds, once) is not the reply
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
                    raise InputError(
                        f"{e}. Shorten the conversation or load the model with a larger context (LAB_N_CTX)."
                    ) from e
                raise ProviderError(f"llama.cpp: {e}") from e
        yield Chunk(
            usage=Usage(n_prompt, n_pieces, timer.ttft, timer.total(), 0.0, name, self.name), finish_reason=finish
        )

    def _wire_ok(self, path: Path | None, options: Options, tools: list[dict] | None) -> bool:
        """Whether this request can go to a wire engine (the rest needs llama-cpp-python in-process)."""
        if tools or options.logprobs or self.n_ctx or self.n_gpu_layers:
            return False
        return path is None or path.resolve() == default_model_path().resolve()

    def _stream_server(self, messages: list[Message], options: Options) -> Iterator[Chunk]:
        """Stream from the managed llama-server; restart it once if it died. Returns True when it could not be
        used before any text was sent (the caller then runs the request in-process and the app says why)."""
        from lab.llm.llama_server import managed_server

        srv = managed_server()
        label = default_model_path().name
        for attempt in (1, 2):
            try:
                base = srv.ensure()
                yield from _client(base, srv.api_key).stream(messages, label, options, label)
                global _FALLBACK_NOTE
                _FALLBACK_NOTE = None  # the server answers (again): nothing to report
                return False
            except ProviderUnavailable as e:
                if getattr(e, "started", False):
                    raise
                if attempt == 2 or srv.alive():
                    _note_fallback(str(e))
                    return True
        return True

    def _stream_remote(self, messages: list[Message], options: Options) -> Iterator[Chunk]:
        """Stream from the least-busy engine of LAB_LOCAL_BASE_URLS; an engine that fails before the first token
        is marked down and the next one is tried."""
        from lab.llm.router import shared_router

        router = shared_router()
        last: Exception | None = None
        for _ in range(len(router.engines)):
            eng = router.acquire()
            ok = True
            try:
                model = eng.model or self._engine_model(eng)
                yield from _client(eng.base_url, eng.api_key).stream(messages, model, options, model)
                return
            except ProviderUnavailable as e:
                ok = False
                if getattr(e, "started", False):
                    raise
                last = e
            finally:
                router.release(eng, ok)
        raise last or ProviderUnavailable("No local engine answered (LAB_LOCAL_BASE_URLS).")

    @staticmethod
    def _engine_model(eng) -> str:
        """The engine's first served model id (vLLM insists on it; llama-server and Ollama list theirs)."""
        try:
            models = _client(eng.base_url, eng.api_key).client.models.list()
            eng.model = next(iter(models)).id
        except Exception:  # noqa: BLE001 - a server without /models: any name will do for llama-server
            eng.model = "local-model"
        return eng.model

    def _from_response(self, resp: dict, name: str, timer: Timer) -> Chunk:
        choice = resp["choices"][0]
        msg = choice["message"]
        calls = [
            ToolCall(tc["id"], tc["function"]["name"], tc["function"]["arguments"])
            for tc in msg.get("tool_calls") or []
        ]
        u = resp.get("usage") or {}
        usage = Usage(
            u.get("prompt_tokens", 0), u.get("completion_tokens", 0), timer.ttft, timer.total(), 0.0, name, self.name
        )
        return Chunk(
            text=msg.get("content") or "",
            tool_calls=calls or None,
            usage=usage,
            finish_reason=choice.get("finish_reason"),
            logprobs=_logprobs(choice),
        )


def _logprobs(choice: dict) -> list[dict] | None:
    """OpenAI-shaped ``logprobs.content`` → ``[{"token", "logprob", "top": {token: logprob}}]``."""
    lp = choice.get("logprobs")
    if not lp or not lp.get("content"):
        return None
    return [
        {
            "token": c["token"],
            "logprob": c["logprob"],
            "top": {t["token"]: t["logprob"] for t in c.get("top_logprobs", [])},
        }
        for c in lp["content"]
    ]
