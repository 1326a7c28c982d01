"""The same messages to two or three models at once, side by side: answer, TTFT, tok/s, tokens and cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from lab.core.errors import InputError, LabError
from lab.core.keys import redact
from lab.llm.base import Message, Options, Provider, Usage, run


@dataclass
class Target:
    """One contestant of a side-by-side comparison. ``provider`` may be a zero-argument factory, so that a
    missing key becomes that column's error instead of stopping the whole comparison."""

    label: str
    provider: Provider | Callable[[], Provider]
    model: str | None = None


@dataclass
class Outcome:
    label: str
    text: str = ""
    usage: Usage | None = None
    error: str = ""


def compare(
    targets: list[Target],
    messages: list[Message],
    options: Options | None = None,
    on_text: Callable[[int, str], None] | None = None,
) -> list[Outcome]:
    """The same messages to 2-3 models, one after the other (one local model is shared; remote calls would
    race for the same CPU to print). One model failing does not stop the others: its error is kept."""
    if not 1 <= len(targets) <= 3:
        raise InputError(f"Compare 1 to 3 models (got {len(targets)}).")
    out: list[Outcome] = []
    for i, t in enumerate(targets):
        o = Outcome(t.label)
        try:
            provider = t.provider if hasattr(t.provider, "stream") else t.provider()
            reply = run(
                provider,
                messages,
                model=t.model,
                options=options,
                on_text=(lambda s, i=i: on_text(i, s)) if on_text else None,
            )
            o.text, o.usage = reply.text, reply.usage
        except LabError as e:
            o.text, o.error = getattr(e, "partial_text", ""), redact(str(e))
        out.append(o)
    return out


def compare_table(outcomes: list[Outcome]) -> list[dict]:
    """One row per model: time to first token (ms), tokens/s, tokens in/out, cost ($; None = unknown price)."""
    rows = []
    for o in outcomes:
        u = o.usage
        rows.append(
            {
                "model": o.label,
                "ttft_ms": round(u.ttft_s * 1000) if u and u.ttft_s is not None else None,
                "tokens_per_s": round(u.tokens_per_s, 1) if u and u.tokens_per_s else None,
                "tokens_in": u.prompt_tokens if u else None,
                "tokens_out": u.completion_tokens if u else None,
                "cost_usd": u.cost_usd if u else None,
                "error": o.error,
            }
        )
    return rows
