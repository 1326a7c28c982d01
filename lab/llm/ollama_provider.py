"""Ollama through its own client and native ``/api/chat`` (NDJSON streaming: one JSON object per line).

Ollama also serves an OpenAI-compatible ``/v1``; the native API is used here because it reports its own
timings (``prompt_eval_count``, ``eval_count``, durations in nanoseconds) and takes a JSON Schema as
``format``. Tool-call arguments are objects here, not JSON strings, so they are converted both ways.

    >>> to_ollama([{"role": "assistant", "content": None, "tool_calls": [{"id": "1", "type": "function",
    ...     "function": {"name": "f", "arguments": '{"x": 1}'}}]}])
    [{'role': 'assistant', 'content': '', 'tool_calls': [{'function': {'name': 'f', 'arguments': {'x': 1}}}]}]
"""

from __future__ import annotations

import json
from typing import Iterator

import httpx
import ollama

from lab.core.errors import ProviderError, ProviderTimeout, ProviderUnavailable, excerpt
from lab.core.settings import get_settings
from lab.llm.base import Chunk, Message, Options, ToolCall, Usage, begin


def to_ollama(messages: list[Message]) -> list[dict]:
    out = []
    for m in messages:
        msg = {"role": m["role"], "content": m.get("content") or ""}
        if m.get("tool_calls"):
            msg["tool_calls"] = [
                {
                    "function": {
                        "name": tc["function"]["name"],
                        "arguments": json.loads(tc["function"].get("arguments") or "{}"),
                    }
                }
                for tc in m["tool_calls"]
            ]
        out.append(msg)
    return out


def build(*, base_url: str | None = None, typed_base_url: bool = False, **_ignored) -> "OllamaProvider":
    """The registry's factory (``lab.llm.REGISTRY``): ``base_url`` is Ollama's host (LAB_OLLAMA_HOST otherwise)."""
    return OllamaProvider(host=base_url, typed_base_url=typed_base_url)


class OllamaProvider:
    name = "ollama"
    default_model = "llama3.2"

    def __init__(self, host: str | None = None, *, typed_base_url: bool = False) -> None:
        """``typed_base_url``: the host was typed by a page's visitor, so the address guard checks it first."""
        from lab.core.netguard import check_base_url

        self.host = check_base_url(
            host or get_settings().ollama_host, provider="ollama", typed=typed_base_url and bool(host)
        )
        self._client = ollama.Client(host=self.host, timeout=get_settings().request_timeout_s)

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]:
        messages, options, timer = begin(messages, options)
        model = model or self.default_model
        opts = {"temperature": options.temperature, "top_p": options.top_p, "num_predict": options.max_tokens}
        if options.seed is not None:
            opts["seed"] = options.seed
        if options.stop:
            opts["stop"] = options.stop
        fmt = options.json_schema or ("json" if options.json_mode else None)
        calls: list[ToolCall] = []
        last = None
        try:
            replies = self._client.chat(
                model=model,
                messages=to_ollama(messages),
                tools=tools or None,
                stream=options.stream,
                format=fmt,
                options=opts,
            )
            for part in replies if options.stream else [replies]:
                last = part
                if part.message.content:
                    timer.first()
                    yield Chunk(text=part.message.content)
                for i, tc in enumerate(part.message.tool_calls or []):
                    timer.first()
                    calls.append(
                        ToolCall(f"call_{len(calls)}_{i}", tc.function.name, json.dumps(tc.function.arguments))
                    )
        except ollama.ResponseError as e:
            if e.status_code == 404:
                raise ProviderError(f"Ollama has no model {model!r}: run `ollama pull {model}` first.") from e
            raise ProviderError(f"Ollama returned HTTP {e.status_code}: {excerpt(e.error)}") from e
        except httpx.TimeoutException as e:
            raise ProviderTimeout(f"Ollama at {excerpt(self.host)} did not answer in time.") from e
        except (ConnectionError, httpx.TransportError) as e:
            raise ProviderUnavailable(
                f"Cannot reach Ollama at {excerpt(self.host)}: start it with `ollama serve` "
                "(https://ollama.com/download) or set LAB_OLLAMA_HOST."
            ) from e
        pt = (last.prompt_eval_count or 0) if last else 0
        ct = (last.eval_count or 0) if last else 0
        usage = Usage(pt, ct, timer.ttft, timer.total(), 0.0, model, self.name)
        yield Chunk(usage=usage, tool_calls=calls or None, finish_reason=last.done_reason if last else None)
