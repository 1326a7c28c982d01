"""A scripted provider for tests and offline demos: it replies from a queue and records every call.

Like simonw/llm's ``MockModel``: queue replies, run the code under test, then look at what was sent.
A queued item is a string (streamed word by word), a ``Response``-like dict with ``tool_calls``, or an
exception instance (raised, to test error paths; raised after the text when given as ``(text, exc)``).

    >>> fake = FakeProvider(["Hello there", {"tool_calls": [("get_ticket_price", {"destination_city": "Paris"})]}])
    >>> from lab.llm.base import run
    >>> run(fake, [{"role": "user", "content": "hi"}]).text
    'Hello there'
    >>> run(fake, [{"role": "user", "content": "price?"}]).tool_calls[0].name
    'get_ticket_price'
    >>> fake.calls[0]["messages"][-1]["content"]
    'hi'
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

from lab.core.errors import InputError
from lab.llm.base import Chunk, Message, Options, ToolCall, Usage, begin


def build(*, replies: list | None = None, **_ignored) -> "FakeProvider":
    """The registry's factory (``lab.llm.REGISTRY``): ``replies`` is the script."""
    return FakeProvider(replies)


class FakeProvider:
    name = "fake"
    default_model = "scripted"

    def __init__(self, replies: list[Any] | None = None, *, default: str | None = None) -> None:
        self.replies = list(replies or [])
        self.default = default
        self.calls: list[dict] = []

    def queue(self, *replies: Any) -> "FakeProvider":
        self.replies.extend(replies)
        return self

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]:
        messages, _, timer = begin(messages, options)  # options mean nothing to a script: recorded as given
        self.calls.append({"messages": [dict(m) for m in messages], "model": model, "options": options, "tools": tools})
        if self.replies:
            reply = self.replies.pop(0)
        elif self.default is not None:
            reply = self.default
        else:
            raise InputError(
                "The scripted provider has no reply queued (it answers only what a test or demo scripted)."
            )
        error = None
        if isinstance(reply, tuple):
            reply, error = reply
        if isinstance(reply, BaseException):
            raise reply
        text, calls = reply, []
        if isinstance(reply, dict):
            text = reply.get("content", "")
            calls = [
                ToolCall(f"call_{i}", n, a if isinstance(a, str) else json.dumps(a))
                for i, (n, a) in enumerate(reply.get("tool_calls", []))
            ]
        pieces = re.findall(r"\s*\S+", text) if text else []
        for piece in pieces:
            timer.first()
            yield Chunk(text=piece)
        if error is not None:
            raise error
        prompt_words = sum(len(str(m.get("content") or "").split()) for m in messages)
        usage = Usage(prompt_words, len(pieces), timer.ttft, timer.total(), 0.0, model or self.default_model, self.name)
        yield Chunk(usage=usage, tool_calls=calls or None, finish_reason="tool_calls" if calls else "stop")
