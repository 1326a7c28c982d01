"""Merge ranked lists: reciprocal-rank fusion (RRF), round-robin of sub-query results, and splitting two-part
questions into sub-queries. Pure functions over lists of hits; no model here.

RRF (Cormack et al., 2009) ignores the scores (a cosine and a BM25 score are not comparable) and adds, for every
list a chunk appears in, ``weight / (K + rank)``; K = 60 keeps one list's top rank from drowning the others:

    >>> from lab.rag.stores import Hit
    >>> dense = [Hit("a", .9, ""), Hit("b", .8, ""), Hit("c", .7, "")]
    >>> bm25 = [Hit("c", 12.0, ""), Hit("a", 9.0, "")]
    >>> [h.id for h in rrf([dense, bm25])]        # a: 1/61 + 1/62, c: 1/63 + 1/61, b: 1/62
    ['a', 'c', 'b']

A question about two things ("Who owns AquaLedger, and what does GlassHouse cost?") has one embedding that lands
between its two answers, so often only one document reaches the top k. ``sub_queries`` splits it and
``interleave`` takes the whole question's best chunk first, then each part's best, then the next of each:

    >>> sub_queries("Who owns AquaLedger, and what does the GlassHouse Climate Hub cost?")
    ['Who owns AquaLedger', 'what does the GlassHouse Climate Hub cost?']
    >>> sub_queries("What do Desert Bloom Farms and Nordic Greens AB both pay per year?")
    ['What do Desert Bloom Farms pay per year?', 'What do Nordic Greens AB pay per year?']
    >>> sub_queries("How much water did the first pilot save?")
    []
    >>> sub_queries("Who got the Customer Champion Award in 2022, and what was it for?")   # 'what was it for' names nothing
    []
"""

from __future__ import annotations

import re

RRF_K = 60
_WH = r"(?:what|who|whom|whose|which|when|where|why|how|does|do|did|is|are|was|were|can|could|has|have)"
# ", and what ...", " and who ...", "; how ...": a second clause that is itself a question
_CLAUSE = re.compile(rf"\s*(?:,\s*and\s+|\s+and\s+also\s+|\s+and\s+|;\s*|\?\s+)(?={_WH}\b)", re.I)
# "X and Y" where both are capitalised names (a product, a customer, a person)
_NAME = r"(?:the\s+)?[A-Z][\w'’&.-]*(?:\s+(?:[A-Z0-9][\w'’&.-]*|of|de|del|la|van|von))*"
_PAIR = re.compile(rf"({_NAME})\s+and\s+({_NAME})")
_BOTH = re.compile(r"\s+both\b|\bboth\s+", re.I)


def rrf(rankings, weights=None, k0: int = RRF_K) -> list:
    """Fuse ranked lists of hits (best first) into one; a hit's ``score`` becomes its fused score and the
    best cosine it had in any dense list is kept as ``metadata['dense_score']``."""
    from lab.rag.stores import Hit

    weights = list(weights) if weights is not None else [1.0] * len(rankings)
    total: dict[str, float] = {}
    first: dict[str, Hit] = {}
    for hits, w in zip(rankings, weights):
        for rank, h in enumerate(hits, 1):
            total[h.id] = total.get(h.id, 0.0) + w / (k0 + rank)
            first.setdefault(h.id, h)
    out = []
    for cid in sorted(total, key=lambda c: -total[c]):
        h = first[cid]
        out.append(Hit(h.id, total[cid], h.text, dict(h.metadata)))
    return out


def add_doc_prior(hits, doc_rank: dict, weight: float, k0: int = RRF_K) -> list:
    """Re-sort fused hits after adding ``weight / (k0 + rank)`` of each hit's *document* (``doc_rank``: source ->
    1-based rank, e.g. of document-level vectors); a hit whose document is unranked gets nothing.

        >>> from lab.rag.stores import Hit
        >>> hits = [Hit("a#0", .200, "", {"source": "a"}), Hit("b#0", .199, "", {"source": "b"})]
        >>> [(h.id, round(h.score, 4)) for h in add_doc_prior(hits, {"b": 1, "a": 5}, 0.1, k0=5)]  # b: .199 + .1/6
        [('b#0', 0.2157), ('a#0', 0.21)]
    """
    from lab.rag.stores import Hit

    out = [
        Hit(
            h.id,
            h.score + (weight / (k0 + doc_rank[h.source]) if h.source in doc_rank else 0.0),
            h.text,
            dict(h.metadata),
        )
        for h in hits
    ]
    return sorted(out, key=lambda h: -h.score)


def interleave(rankings, k: int) -> list:
    """Round-robin over ranked lists (first list first), skipping chunks already taken, until ``k``."""
    out, seen = [], set()
    depth = max((len(r) for r in rankings), default=0)
    for i in range(depth):
        for r in rankings:
            if i < len(r) and r[i].id not in seen:
                seen.add(r[i].id)
                out.append(r[i])
                if len(out) == k:
                    return out
    return out


def _words(s: str) -> int:
    return len(re.findall(r"\w+", s))


def sub_queries(question: str) -> list[str]:
    """The parts of a two-part question ([] when it has one part). Heuristic, no model: a second clause
    that starts with a question word, or two capitalised names joined by 'and' (one question per name)."""
    from lab.rag.lexical import tokenize

    q = " ".join(question.split())
    parts = [p.strip(" ,;") for p in _CLAUSE.split(q) if p.strip(" ,;?")]
    # a part must name something of its own: "..., and what was it for?" (no content word) continues the first
    # part and is not a second question - searched alone it would only fill the top k with noise
    parts = [p for p in parts if _words(p) >= 3 and len(tokenize(p)) >= 2]
    if len(parts) >= 2:
        return parts[:4]
    m = _PAIR.search(q)
    if (
        m
        and m.group(1).strip().lower() not in {"the", "rainfold"}
        and _words(m.group(1)) <= 6
        and _words(m.group(2)) <= 6
    ):
        out = []
        for name in (m.group(1), m.group(2)):
            s = q[: m.start()] + name + q[m.end() :]
            out.append(" ".join(_BOTH.sub(" ", s).split()))
        return out
    return []
