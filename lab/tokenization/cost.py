"""What a text costs: tokens per model times a dated, editable price table, and its share of the context window."""

from __future__ import annotations

from lab.core.errors import InputError
from lab.tokenization.analysis import analyse


def price_rows(table: dict | None = None) -> list[dict]:
    from lab.llm.pricing import PRICES

    return [
        {"model": m, "input_per_1m": i, "output_per_1m": o, "context_window": c}
        for m, (i, o, c) in (table or PRICES).items()
    ]


def table_from_rows(rows: list[dict]) -> dict[str, tuple[float, float, int]]:
    """The edited table back into ``pricing``'s shape; a negative or missing number is refused."""
    table = {}
    for r in rows:
        model = str(r.get("model") or "").strip()
        if not model:
            continue
        try:
            i, o, c = float(r["input_per_1m"]), float(r["output_per_1m"]), int(r["context_window"])
        except (TypeError, ValueError, KeyError):
            raise InputError(f"The price row for {model!r} needs numbers in every column.") from None
        if i < 0 or o < 0 or c <= 0:
            raise InputError(f"The price row for {model!r} has a negative price or an empty context window.")
        table[model] = (i, o, c)
    return table


def cost_rows(text: str, table: dict | None = None, output_tokens: int = 0, count: int | None = None) -> list[dict]:
    """Per model: input tokens, dollars, and the share of its context window the text fills.

    OpenAI models count with o200k_base (exact). Anthropic's tokenizer is not public, so Claude rows use the
    same count and say "estimate" (Anthropic's count_tokens endpoint gives the exact number)."""
    from lab.llm.pricing import PRICES, cost

    table = PRICES if table is None else table
    n = analyse("o200k_base", text, max_pieces=0).count if count is None else count  # pass it when already known
    out = []
    for model, (_, _, window) in table.items():
        usd = cost(model, n, output_tokens, table=table)
        out.append(
            {
                "model": model,
                "tokens": n,
                "counted": "exact" if model.startswith("gpt-") else "estimate",
                "cost_usd": usd,
                "context_share": (n + output_tokens) / window,
            }
        )
    return out
