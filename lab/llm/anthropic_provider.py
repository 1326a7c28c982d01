"""Anthropic's Messages API, translated from and to the OpenAI-shaped conversation the lab keeps.

Differences this adapter absorbs (each a lesson in the Prompting and Tools labs):
- the system prompt is a separate ``system`` parameter, not a message;
- ``max_tokens`` is required;
- tool calls are ``tool_use`` content blocks whose ``input`` is an object; results go back as
  ``tool_result`` blocks inside a *user* message;
- no sampling knobs (temperature, top_p, seed) in anthropic-sdk 2.x; structured output is
  ``output_config={"format": {"type": "json_schema", "schema": ...}}``, and plain JSON mode becomes an
  instruction in the system prompt (said so in the page).

    >>> system, msgs = to_anthropic([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}])
    >>> system, msgs
    ('Be brief.', [{'role': 'user', 'content': 'Hi'}])
"""

from __future__ import annotations

import json
from typing import Iterator

import anthropic

from lab.core.keys import resolve_key
from lab.core.settings import get_settings
from lab.llm import pricing
from lab.llm.base import Chunk, Message, Options, Timer, ToolCall, Usage, begin
from lab.llm.errors import translate


def to_anthropic(messages: list[Message]) -> tuple[str, list[dict]]:
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system" and m.get("content"))
    out: list[dict] = []
    for m in messages:
        role = m["role"]
        if role == "system":
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": m["tool_call_id"], "content": str(m.get("content", ""))}
            if out and out[-1]["role"] == "user" and isinstance(out[-1]["content"], list):
                out[-1]["content"].append(block)  # several results of one turn share one user message
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant" and m.get("tool_calls"):
            blocks: list[dict] = [{"type": "text", "text": m["content"]}] if m.get("content") else []
            for tc in m["tool_calls"]:
                fn = tc["function"]
                blocks.append({"type": "tool_use", "id": tc["id"], "name": fn["name"], "input": _args(fn)})
            out.append({"role": "assistant", "content": blocks})
        else:
            out.append({"role": role, "content": m.get("content") or ""})
    return system, out


def _args(fn: dict) -> dict:
    """Arguments of an earlier call as an object; malformed JSON (say, from another provider) becomes {}."""
    try:
        value = json.loads(fn.get("arguments") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def to_anthropic_tools(tools: list[dict]) -> list[dict]:
    """OpenAI ``{"type": "function", "function": {...}}`` → Anthropic ``{"name", "description", "input_schema"}``."""
    return [
        {
            "name": t["function"]["name"],
            "description": t["function"].get("description", ""),
            "input_schema": t["function"]["parameters"],
        }
        for t in tools
    ]


class AnthropicProvider:
    name = "anthropic"
    default_model = "claude-haiku-4-5"

    def __init__(
        self, api_key: str | None = None, base_url: str | None = None, *, typed_base_url: bool = False
    ) -> None:
        """``typed_base_url``: typed by a page's visitor - guarded, and never sent the deployment's key."""
        if base_url is not None:
            from lab.core.netguard import check_base_url

            base_url = check_base_url(base_url, provider="anthropic", typed=typed_base_url)
        self.base_url = base_url
        key = resolve_key("anthropic", api_key, base_url=base_url, typed_base_url=typed_base_url)
        self._client = anthropic.Anthropic(
            api_key=key, base_url=base_url, timeout=get_settings().request_timeout_s, max_retries=0
        )

    def _params(self, messages: list[Message], model: str, options: Options, tools: list[dict] | None) -> dict:
        system, msgs = to_anthropic(messages)
        params: dict = {"model": model, "messages": msgs, "max_tokens": options.max_tokens}
        # The Messages API in anthropic-sdk 2.x takes no temperature/top_p/seed: the model samples as it
        # sees fit. Those knobs are ignored for this provider, and the page says so.
        if options.json_schema:
            params["output_config"] = {"format": {"type": "json_schema", "schema": options.json_schema}}
        elif options.json_mode:  # no plain JSON mode here: ask for it in the system prompt
            system = f"{system}\n\nReply with one JSON object and nothing else.".strip()
        if system:
            params["system"] = system
        if options.stop:
            params["stop_sequences"] = options.stop
        if tools:
            params["tools"] = to_anthropic_tools(tools)
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
        params = self._params(messages, model, options, tools)
        try:
            if not options.stream:
                msg = self._client.messages.create(**params)
                timer.first()
                text = "".join(b.text for b in msg.content if b.type == "text")
                calls = [ToolCall(b.id, b.name, json.dumps(b.input)) for b in msg.content if b.type == "tool_use"]
                yield Chunk(
                    text=text,
                    tool_calls=calls or None,
                    finish_reason=msg.stop_reason,
                    usage=self._usage(model, msg.usage.input_tokens, msg.usage.output_tokens, timer),
                )
                return
            pt = ct = 0
            finish = None
            blocks: dict[int, dict] = {}
            for ev in self._client.messages.create(stream=True, **params):
                if ev.type == "message_start":
                    pt = ev.message.usage.input_tokens
                elif ev.type == "content_block_start" and ev.content_block.type == "tool_use":
                    blocks[ev.index] = {"id": ev.content_block.id, "name": ev.content_block.name, "json": ""}
                elif ev.type == "content_block_delta":
                    timer.first()
                    if ev.delta.type == "text_delta":
                        yield Chunk(text=ev.delta.text)
                    elif ev.delta.type == "input_json_delta":
                        blocks[ev.index]["json"] += ev.delta.partial_json
                elif ev.type == "message_delta":
                    ct = ev.usage.output_tokens
                    finish = ev.delta.stop_reason
        except anthropic.AnthropicError as e:
            raise translate(e, anthropic, self.name, self.base_url) from e
        calls = [ToolCall(b["id"], b["name"], b["json"] or "{}") for _, b in sorted(blocks.items())]
        yield Chunk(usage=self._usage(model, pt, ct, timer), tool_calls=calls or None, finish_reason=finish)

    def _usage(self, model: str, pt: int, ct: int, timer: Timer) -> Usage:
        return Usage(pt, ct, timer.ttft, timer.total(), pricing.cost(model, pt, ct, self.name), model, self.name)


def build(
    *, api_key: str | None = None, base_url: str | None = None, typed_base_url: bool = False, **_ignored
) -> AnthropicProvider:
    """The registry's factory (``lab.llm.REGISTRY``)."""
    return AnthropicProvider(api_key=api_key, base_url=base_url, typed_base_url=typed_base_url)
