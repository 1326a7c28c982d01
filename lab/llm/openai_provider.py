"""OpenAI chat completions, and any server that speaks the same wire format (``base_url``).

One adapter serves api.openai.com, GitHub Models, Ollama's and llama.cpp's ``/v1`` endpoints, vLLM...
Streaming asks for ``stream_options={"include_usage": True}`` so the last SSE event carries token counts;
tool-call fragments arrive spread over many deltas (``index``, then pieces of ``arguments``) and are
assembled here.

    >>> p = OpenAIProvider(api_key="sk-test", base_url="http://127.0.0.1:8000/v1")
    >>> p.name, p.default_model
    ('openai', 'gpt-4o-mini')
"""

from __future__ import annotations

from typing import Iterator

import openai

from lab.core.clients import openai_client
from lab.core.keys import resolve_key
from lab.core.settings import get_settings
from lab.llm import pricing
from lab.llm.base import Chunk, Message, Options, Timer, ToolCall, Usage, begin
from lab.llm.errors import translate


class OpenAIProvider:
    name = "openai"
    default_model = "gpt-4o-mini"

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        *,
        name: str | None = None,
        default_model: str | None = None,
        key_required: bool = True,
        typed_base_url: bool = False,
    ) -> None:
        """``typed_base_url``: the base URL was typed by a page's visitor (the UI says so; the CLI does not). It is
        then guarded (lab.prompting.web.check_url) and goes out only with an explicit key, never the deployment's."""
        if name:
            self.name = name
        if default_model:
            self.default_model = default_model
        if base_url is not None:
            from lab.core.netguard import check_base_url

            base_url = check_base_url(base_url, provider=self.name, typed=typed_base_url)
        self.base_url = base_url
        # An OpenAI-compatible local server (llama.cpp, Ollama /v1) needs no key; the SDK insists on one.
        key = (
            resolve_key(self.name, api_key, required=key_required, base_url=base_url, typed_base_url=typed_base_url)
            or "not-needed"
        )
        # max_retries=0: a failure reaches the learner at once, as the lab's error (no silent SDK retries).
        self._client = openai_client(api_key=key, base_url=base_url, max_retries=0)

    def _params(self, options: Options, tools: list[dict] | None) -> dict:
        params: dict = {"temperature": options.temperature, "top_p": options.top_p, "max_tokens": options.max_tokens}
        if options.seed is not None:
            params["seed"] = options.seed
        if options.stop:
            params["stop"] = options.stop
        if options.json_schema:
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": options.json_schema.get("title", "reply"), "schema": options.json_schema},
            }
        elif options.json_mode:
            params["response_format"] = {"type": "json_object"}
        if tools:
            params["tools"] = tools
        return params

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
        try:
            if not options.stream:
                yield self._complete(messages, model, options, tools, timer)
                return
            events = self._client.chat.completions.create(
                model=model,
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
                **self._params(options, tools),
            )
            calls: dict[int, dict] = {}
            usage_raw, finish, n_pieces = None, None, 0
            for ev in events:
                if ev.usage:
                    usage_raw = ev.usage
                for choice in ev.choices or []:
                    delta = choice.delta
                    if delta and delta.content:
                        timer.first()
                        n_pieces += 1
                        yield Chunk(text=delta.content)
                    for tc in (delta.tool_calls or []) if delta else []:
                        timer.first()
                        slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] = tc.id or slot["id"]
                        if tc.function:
                            slot["name"] += tc.function.name or ""
                            slot["arguments"] += tc.function.arguments or ""
                    if choice.finish_reason:
                        finish = choice.finish_reason
        except openai.OpenAIError as e:
            raise translate(e, openai, self.name, self.base_url) from e
        usage = self._usage(model, usage_raw, timer, n_pieces)
        tool_calls = [ToolCall(c["id"], c["name"], c["arguments"] or "{}") for _, c in sorted(calls.items())]
        yield Chunk(usage=usage, tool_calls=tool_calls or None, finish_reason=finish)

    def _complete(self, messages, model, options, tools, timer) -> Chunk:
        resp = self._client.chat.completions.create(model=model, messages=messages, **self._params(options, tools))
        timer.first()
        choice = resp.choices[0]
        calls = [
            ToolCall(tc.id, tc.function.name, tc.function.arguments or "{}")
            for tc in (choice.message.tool_calls or [])
            if tc.type == "function"
        ]
        return Chunk(
            text=choice.message.content or "",
            tool_calls=calls or None,
            finish_reason=choice.finish_reason,
            usage=self._usage(model, resp.usage, timer, 1),
        )

    def _usage(self, model: str, raw, timer: Timer, n_pieces: int) -> Usage:
        pt = raw.prompt_tokens if raw else 0
        # Servers that ignore include_usage still stream one token per piece, near enough.
        ct = raw.completion_tokens if raw else n_pieces
        return Usage(pt, ct, timer.ttft, timer.total(), pricing.cost(model, pt, ct, self.name), model, self.name)


def build(
    *, api_key: str | None = None, base_url: str | None = None, typed_base_url: bool = False, **_ignored
) -> OpenAIProvider:
    """The registry's factory for ``openai`` (``lab.llm.REGISTRY``)."""
    return OpenAIProvider(api_key=api_key, base_url=base_url, typed_base_url=typed_base_url)


def build_compatible(
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    typed_base_url: bool = False,
    **_ignored,
) -> OpenAIProvider:
    """The registry's factory for ``openai-compatible``."""
    return openai_compatible(base_url=base_url, api_key=api_key, model=model, typed_base_url=typed_base_url)


def openai_compatible(
    base_url: str | None = None, api_key: str | None = None, model: str | None = None, *, typed_base_url: bool = False
) -> OpenAIProvider:
    """Any OpenAI-compatible server: GitHub Models, llama.cpp's server, Ollama's /v1, vLLM..."""
    url = base_url or get_settings().openai_compatible_base_url
    if not url:
        from lab.core.errors import InputError

        raise InputError(
            "The openai-compatible provider needs a base URL (e.g. http://127.0.0.1:8080/v1): "
            "pass --base-url or set LAB_OPENAI_COMPATIBLE_BASE_URL."
        )
    return OpenAIProvider(
        api_key=api_key,
        base_url=url,
        name="openai-compatible",
        default_model=model or "local-model",
        key_required=False,
        typed_base_url=typed_base_url and bool(base_url),
    )
