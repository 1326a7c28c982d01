"""The memory illusion: a chat model remembers nothing; the whole history is sent again on every turn.

``Conversation`` keeps the turns; each ``messages()`` is the full list, and ``count_tokens`` shows it growing
against the model's context window (``check_fits`` refuses a turn that would not fit, with the numbers).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from lab.core.errors import InputError
from lab.core.tokenizers import count_chat_tokens
from lab.llm.base import Message, Response
from lab.prompting.messages import PRESETS, Rule, build_messages, inject_context


def count_tokens(messages: list[Message]) -> int:
    """An estimate of the prompt's size in tokens: tiktoken ``o200k_base`` by OpenAI's chat rule (3 tokens a turn
    of framing, its role and text, 3 to prime the reply; ``lab.core.tokenizers.count_chat_tokens``). Each
    tokenizer counts a little differently; the provider's own count arrives with each reply (``usage.prompt_tokens``)."""
    return count_chat_tokens(messages)


def context_window(provider: str, model: str | None) -> int | None:
    """The model's context window in tokens: LAB_N_CTX for local llama.cpp, the price table for known models."""
    from lab.core.settings import get_settings
    from lab.llm import pricing

    if provider == "local":
        return get_settings().n_ctx
    return pricing.context_window(model) if model else None


def check_fits(messages: list[Message], window: int | None, max_tokens: int = 0) -> int:
    """Refuse a prompt that cannot fit the window (with counts); return the estimated prompt tokens."""
    n = count_tokens(messages)
    if window and n + max_tokens > window:
        raise InputError(
            f"The prompt is about {n:,} tokens and the reply may take up to {max_tokens:,}: that is more than the "
            f"model's context window of {window:,} tokens. Clear the conversation, shorten the prompt or lower max "
            "tokens."
        )
    return n


@dataclass
class Conversation:
    """A chat with the *illusion* of memory: the model remembers nothing, so every turn re-sends everything."""

    system: str = PRESETS["Brief and factual"]
    turns: list[Message] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)  # the provider's count, turn by turn

    def messages(self, user: str, rules: Iterable[Rule] = ()) -> list[Message]:
        return inject_context(build_messages(self.system, user, history=self.turns), rules)

    def record(self, user: str, reply: Response) -> None:
        self.turns += [{"role": "user", "content": user}, {"role": "assistant", "content": reply.text}]
        self.prompt_tokens.append(reply.usage.prompt_tokens)
