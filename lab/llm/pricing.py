"""Price table: US dollars per million tokens, input and output, as published by each provider.

Prices move; the table is dated and editable (the Tokenization page lets a learner change it). A model not
in the table has no estimated cost (``None``), never a guessed one. Local models cost nothing per token.

    >>> cost("gpt-4o-mini", prompt_tokens=1_000_000, completion_tokens=0)
    0.15
    >>> cost("gpt-4o-mini", 1000, 500)  # 1000 * 0.15/1e6 + 500 * 0.60/1e6
    0.00045
    >>> cost("ft:gpt-4o-mini-2024-07-18:acme::x1", 1_000_000, 0)  # fine-tuned: twice the base price
    0.3
    >>> cost("no-such-model", 10, 10) is None
    True
"""

from __future__ import annotations

PRICES_AS_OF = "2025-09 (list prices on the providers' pricing pages; edit when they change)"

# model id prefix -> (input $/1M tokens, output $/1M tokens, context window in tokens)
PRICES: dict[str, tuple[float, float, int]] = {
    "gpt-5": (1.25, 10.00, 400_000),
    "gpt-5-mini": (0.25, 2.00, 400_000),
    "gpt-5-nano": (0.05, 0.40, 400_000),
    "gpt-4.1": (2.00, 8.00, 1_047_576),
    "gpt-4.1-mini": (0.40, 1.60, 1_047_576),
    "gpt-4.1-nano": (0.10, 0.40, 1_047_576),
    "gpt-4o": (2.50, 10.00, 128_000),
    "gpt-4o-mini": (0.15, 0.60, 128_000),
    # fine-tuned OpenAI models (ids like ft:gpt-4o-mini-2024-07-18:org::abc123) cost more per token than their base
    "ft:gpt-4.1": (3.00, 12.00, 1_047_576),
    "ft:gpt-4.1-mini": (0.80, 3.20, 1_047_576),
    "ft:gpt-4.1-nano": (0.20, 0.80, 1_047_576),
    "ft:gpt-4o-mini": (0.30, 1.20, 128_000),
    "claude-opus-4-1": (15.00, 75.00, 200_000),
    "claude-sonnet-4-5": (3.00, 15.00, 200_000),
    "claude-sonnet-4": (3.00, 15.00, 200_000),
    "claude-haiku-4-5": (1.00, 5.00, 200_000),
    "claude-3-5-haiku": (0.80, 4.00, 200_000),
}
FREE_PROVIDERS = {"local", "ollama", "fake"}


def lookup(model: str, table: dict[str, tuple[float, float, int]] | None = None) -> tuple[float, float, int] | None:
    """Exact id first, then the longest known prefix (``gpt-4o-mini-2024-07-18`` → ``gpt-4o-mini``)."""
    table = PRICES if table is None else table
    if model in table:
        return table[model]
    matches = [k for k in table if model.startswith(k)]
    return table[max(matches, key=len)] if matches else None


def cost(
    model: str,
    prompt_tokens: int,
    completion_tokens: int,
    provider: str = "",
    table: dict[str, tuple[float, float, int]] | None = None,
) -> float | None:
    if provider in FREE_PROVIDERS:
        return 0.0
    row = lookup(model, table)
    if row is None:
        return None
    return round(prompt_tokens * row[0] / 1e6 + completion_tokens * row[1] / 1e6, 10)


def context_window(model: str) -> int | None:
    row = lookup(model)
    return row[2] if row else None
