"""The provider protocol: one streaming generator, plain dataclasses, one place that joins the pieces.

Every backend (OpenAI, Anthropic, Ollama, llama.cpp in-process, a scripted fake) implements just

    stream(messages, *, model, options, tools=None) -> Iterator[Chunk]

where ``messages`` are OpenAI-shaped dicts (``{"role": "user", "content": "Hi"}``; tool turns as OpenAI sends
them) and each ``Chunk`` carries a piece of text. The last chunk carries ``usage`` (tokens, timings, cost) and
any ``tool_calls``. ``run()`` joins a stream into a ``Response``; that join lives here once, not per backend.
So does the opening every ``stream()`` shares: ``begin(messages, options)`` refuses what no provider should be sent
(no messages, an unknown role, an empty question, a prompt over ``LAB_MAX_PROMPT_CHARS``), fills in the default
``Options`` and starts the ``Timer`` that measures time to first token.

    >>> from lab.llm.fake import FakeProvider
    >>> p = FakeProvider(["Paris."])
    >>> r = run(p, [{"role": "user", "content": "Capital of France?"}])
    >>> r.text, r.usage.completion_tokens
    ('Paris.', 1)
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Protocol, runtime_checkable

from pydantic import BaseModel, Field, field_validator

from lab.core.errors import InputError, LabError

Message = dict[str, Any]

# SmolLM2-135M answers greedily "L'Etoile, la Marseillaise..." to "What is the capital of France?" under its
# template's default system prompt, and "The capital of France is Paris." under this one: small models are
# that sensitive to the system prompt (a lesson of the Prompting lab). The CLI's chat, the GGUF runner, the
# evaluation tasks and the pages' presets all start from it.
DEFAULT_SYSTEM = "Answer briefly and factually."


# ---------------------------------------------------------------------------------------------- shapes
@dataclass
class ToolCall:
    """One function call the model asked for, OpenAI-shaped: ``arguments`` is the raw JSON *string*."""

    id: str
    name: str
    arguments: str

    def to_openai(self) -> dict:
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


@dataclass
class Usage:
    """What one reply cost. Times in seconds; cost in US dollars (None when the model has no known price)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_s: float | None = None
    total_s: float = 0.0
    cost_usd: float | None = None
    model: str = ""
    provider: str = ""
    queue_s: float | None = None  # seconds waited in the classroom's line before the request went out (local model)

    @property
    def waited_s(self) -> float | None:
        """The wait in line worth telling a student (0.1 s or more), else None."""
        return self.queue_s if self.queue_s is not None and self.queue_s >= 0.1 else None

    @property
    def tokens_per_s(self) -> float | None:
        gen_time = self.total_s - (self.ttft_s or 0.0)
        if self.completion_tokens <= 1 or gen_time <= 0:
            return None
        return (self.completion_tokens - 1) / gen_time

    def line(self) -> str:
        """One human line, as the CLI prints after an answer."""
        parts = [f"{self.provider}/{self.model}", f"in {self.prompt_tokens} tok", f"out {self.completion_tokens} tok"]
        if self.ttft_s is not None:
            parts.append(f"ttft {self.ttft_s * 1000:.0f} ms")
        if self.tokens_per_s:
            parts.append(f"{self.tokens_per_s:.1f} tok/s")
        parts.append(f"total {self.total_s:.2f} s")
        if self.waited_s:
            parts.append(f"waited {self.waited_s:.1f} s in line")
        parts.append("cost n/a" if self.cost_usd is None else f"cost ${self.cost_usd:.6f}")
        return "usage: " + ", ".join(parts)

    def to_dict(self) -> dict:
        return asdict(self) | {"tokens_per_s": self.tokens_per_s}


@dataclass
class Chunk:
    """A piece of a streamed reply. Text pieces first; the final chunk has ``usage`` (and ``tool_calls``)."""

    text: str = ""
    tool_calls: list[ToolCall] | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    # Local models can report the top candidates for each generated token: [{"token", "logprob", "top": {...}}]
    logprobs: list[dict] | None = None


@dataclass
class Response:
    text: str
    usage: Usage
    tool_calls: list[ToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    logprobs: list[dict] = field(default_factory=list)

    def assistant_message(self) -> Message:
        """The reply as the next turn of an OpenAI-shaped conversation."""
        msg: Message = {"role": "assistant", "content": self.text or None}
        if self.tool_calls:
            msg["tool_calls"] = [tc.to_openai() for tc in self.tool_calls]
        return msg


# ---------------------------------------------------------------------------------------------- options
class Options(BaseModel):
    """Sampling options shared by every provider. Field descriptions are the UI's help texts."""

    model_config = {"extra": "forbid"}

    temperature: float = Field(
        0.7,
        ge=0.0,
        le=2.0,
        description="Randomness: 0 always picks the likeliest token; higher spreads probability over more tokens.",
    )
    top_p: float = Field(
        1.0,
        gt=0.0,
        le=1.0,
        description="Nucleus sampling: sample only from the smallest set of tokens whose probabilities add up to top_p.",
    )
    max_tokens: int = Field(
        512,
        ge=1,
        le=32768,
        description="Upper bound on the tokens generated for the reply (the prompt is not counted).",
    )
    seed: int | None = Field(
        None,
        ge=0,
        le=2**31 - 1,
        description="Fixed seed: same prompt + same seed gives the same sample (where the provider supports it).",
    )
    stop: list[str] = Field(
        default_factory=list, max_length=4, description="Generation stops when one of these strings appears (up to 4)."
    )
    json_mode: bool = Field(False, description="Ask for a JSON object (the provider's JSON mode where it has one).")
    json_schema: dict | None = Field(
        None, description="A JSON Schema the reply must follow (structured output; local models decode under it)."
    )
    stream: bool = Field(
        True, description="Stream tokens as they are generated; off sends one request and waits for the whole reply."
    )
    logprobs: int = Field(
        0, ge=0, le=20, description="Local models: report this many top candidates per generated token (0 = off)."
    )

    @field_validator("stop")
    @classmethod
    def _no_empty_stop(cls, v: list[str]) -> list[str]:
        if any(s == "" for s in v):
            raise ValueError("stop strings must not be empty")
        return v


# ---------------------------------------------------------------------------------------------- protocol
@runtime_checkable
class Provider(Protocol):
    """What a backend implements. ``name`` is the provider id ('openai', 'local', ...)."""

    name: str
    default_model: str

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]: ...


def validate_messages(messages: list[Message], max_chars: int | None = None) -> None:
    """Refuse what no provider should be sent: no messages, an empty last user turn, a prompt too long."""
    from lab.core.settings import get_settings

    if not messages:
        raise InputError("There is nothing to send: the message list is empty.")
    limit = max_chars or get_settings().max_prompt_chars
    total = 0
    for m in messages:
        if m.get("role") not in {"system", "user", "assistant", "tool"}:
            raise InputError(f"Unknown message role {m.get('role')!r}; use system, user, assistant or tool.")
        content = m.get("content")
        total += len(content) if isinstance(content, str) else len(json.dumps(content or ""))
    last_user = next((m for m in reversed(messages) if m["role"] == "user"), None)
    if last_user is not None and isinstance(last_user.get("content"), str) and not last_user["content"].strip():
        raise InputError("The prompt is empty: type a question first.")
    if total > limit:
        raise InputError(
            f"The prompt is {total:,} characters; this lab accepts up to {limit:,} (LAB_MAX_PROMPT_CHARS)."
        )


def begin(messages: list[Message], options: Options | None = None) -> tuple[list[Message], Options, "Timer"]:
    """The opening of every provider's ``stream()``, written once: check, default, start the clock.

        >>> msgs, opts, timer = begin([{"role": "user", "content": "Hi"}])
        >>> opts.temperature, timer.ttft
        (0.7, None)
        >>> begin([{"role": "user", "content": "  "}])
        Traceback (most recent call last):
        ...
        lab.core.errors.InputError: The prompt is empty: type a question first.

    Raises ``InputError`` before anything is sent, so a bad request never costs a call (or a model load).
    """
    validate_messages(messages)
    return messages, options or Options(), Timer()


def run(
    provider: Provider,
    messages: list[Message],
    *,
    model: str | None = None,
    options: Options | None = None,
    tools: list[dict] | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Response:
    """Send ``messages`` and join the streamed chunks into one ``Response``.

    ``on_text`` sees each text piece as it arrives (the CLI prints them, a page writes them). If the stream
    breaks half-way, the error propagates with what arrived so far in ``error.partial_text``.
    """
    parts: list[str] = []
    usage: Usage | None = None
    calls: list[ToolCall] = []
    finish = None
    logprobs: list[dict] = []
    try:
        for chunk in provider.stream(messages, model=model, options=options, tools=tools):
            if chunk.text:
                parts.append(chunk.text)
                if on_text:
                    on_text(chunk.text)
            if chunk.tool_calls:
                calls.extend(chunk.tool_calls)
            if chunk.logprobs:
                logprobs.extend(chunk.logprobs)
            if chunk.usage:
                usage = chunk.usage
            if chunk.finish_reason:
                finish = chunk.finish_reason
    except LabError as e:
        e.partial_text = "".join(parts)  # type: ignore[attr-defined]
        raise
    return Response(
        "".join(parts),
        usage or Usage(provider=provider.name, model=model or provider.default_model),
        calls,
        finish,
        logprobs,
    )


class Timer:
    """Measures time to first token and total time for a stream (``first()`` on each piece is cheap)."""

    def __init__(self) -> None:
        self.restart()

    def restart(self) -> None:
        """Start counting from now (the local provider does, once the model is loaded: it measures generation)."""
        self.t0 = time.perf_counter()
        self.ttft: float | None = None

    def first(self) -> None:
        if self.ttft is None:
            self.ttft = time.perf_counter() - self.t0

    def total(self) -> float:
        return time.perf_counter() - self.t0
