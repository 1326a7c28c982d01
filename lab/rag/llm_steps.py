"""Retrieval steps that call a model: query rewriting (multi-query) and reranking, as the course does.

Both are off by default: offline the only model is SmolLM2-135M, which rewrites and ranks poorly, and each step
costs a model call per question. With a capable provider they help where embeddings alone fall short:

- ``rewrite``: the model proposes other wordings of the question; each is searched and the lists are interleaved
  (``modes.plan(..., extra_queries=...)``), so a paraphrase far from the document's words gets a second chance.
- ``rerank``: the model reads the top N chunks and orders them by usefulness (no package on PyPI ships a
  cross-encoder's weights, so the LLM is the reranker, as in the course). Decoded under a JSON schema.

    >>> from lab.llm.fake import FakeProvider
    >>> rewrite("Who runs the Dutch office?", FakeProvider(["1. Who leads Wageningen?\\n2. EMEA office head"]))
    ['Who leads Wageningen?', 'EMEA office head']
"""

from __future__ import annotations

import json
import re

from lab.core.errors import LabError
from lab.llm.base import Options, run

REWRITE_PROMPT = (
    "Rewrite the user's question {n} different ways that a search engine over a company's documents "
    "could match: use other words, expand abbreviations, name the likely document. One per line, no "
    "numbering, nothing else."
)
RERANK_PROMPT = (
    'You rank passages by how well they answer the question. Reply with JSON: {"order": [passage '
    "numbers, most useful first]}."
)
RERANK_SCHEMA = {
    "type": "object",
    "properties": {"order": {"type": "array", "items": {"type": "integer"}}},
    "required": ["order"],
}


def rewrite(question: str, provider, n: int = 3, model: str | None = None) -> list[str]:
    """Up to ``n`` other wordings of ``question`` ([] when the model gives none or fails)."""
    msgs = [{"role": "system", "content": REWRITE_PROMPT.format(n=n)}, {"role": "user", "content": question}]
    try:
        text = run(provider, msgs, model=model, options=Options(temperature=0.0, max_tokens=160, stream=False)).text
    except LabError:
        return []
    out = []
    for line in (text or "").splitlines():
        line = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s*", "", line).strip().strip('"')
        if line and line.lower() != question.lower() and line not in out:
            out.append(line[:300])
    return out[:n]


def rerank(question: str, hits: list, provider, model: str | None = None, chars: int = 400) -> list:
    """``hits`` reordered by the model; chunks it leaves out keep their order after the ones it ranked.
    A failed or unreadable reply leaves the order unchanged."""
    if len(hits) < 2:
        return list(hits)
    passages = "\n\n".join(f"[{i}] {h.text[:chars]}" for i, h in enumerate(hits, 1))
    msgs = [
        {"role": "system", "content": RERANK_PROMPT},
        {"role": "user", "content": f"Question: {question}\n\nPassages:\n{passages}\n\nJSON:"},
    ]
    try:
        text = run(
            provider,
            msgs,
            model=model,
            options=Options(temperature=0.0, max_tokens=120, json_schema=RERANK_SCHEMA, stream=False),
        ).text
        m = re.search(r"\{.*\}", text or "", re.S)
        order = json.loads(m.group(0))["order"] if m else []
    except (LabError, ValueError, KeyError, TypeError):
        return list(hits)
    picked = []
    for i in order if isinstance(order, list) else []:
        if isinstance(i, int) and 1 <= i <= len(hits) and hits[i - 1] not in picked:
            picked.append(hits[i - 1])
    return picked + [h for h in hits if h not in picked]
