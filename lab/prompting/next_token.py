"""What the model considered: the top-k candidates (token, probability) at each step of its answer (logprobs)."""

from __future__ import annotations

import math

from lab.core.errors import InputError
from lab.llm.base import Message, Options, Provider, Response, run


def next_tokens(
    provider: Provider, messages: list[Message], *, k: int = 5, steps: int = 8, options: Options | None = None
) -> tuple[Response, list[dict]]:
    """Generate ``steps`` tokens greedily and report, at each step, the top-``k`` candidates with probabilities.

    Only the local llama.cpp provider reports logprobs here (remote adapters in this lab do not ask for them).
    Returns the reply and rows ``{"step", "chosen", "p", "candidates": [(token, p), ...]}``.
    """
    if getattr(provider, "name", "") != "local":
        raise InputError("Next-token probabilities need the local model (llama.cpp reports them): pick 'local'.")
    options = (options or Options()).model_copy(update={"logprobs": k, "max_tokens": steps})
    reply = run(provider, messages, options=options)
    return reply, candidate_rows(reply.logprobs)


def candidate_rows(logprobs: list[dict]) -> list[dict]:
    """``[{"token", "logprob", "top": {token: logprob}}]`` → probabilities (exp of the log-probability)."""
    rows = []
    for i, step in enumerate(logprobs, 1):
        cands = sorted(((t, math.exp(lp)) for t, lp in step.get("top", {}).items()), key=lambda c: -c[1])
        rows.append({"step": i, "chosen": step["token"], "p": math.exp(step["logprob"]), "candidates": cands})
    return rows
