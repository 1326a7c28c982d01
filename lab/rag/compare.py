"""Side by side, timed fairly: the same query against several stores, or in several retrieval modes.

The page used to time "embed + search" per store, so whichever store ran first paid for loading the embedding
model (Chroma 2,543 ms vs FAISS 16 ms for one query). Here the query is embedded once, timed on its own, and each
store's search is then timed alone, warm (one untimed run first), as the median of a few runs:

    >>> r = stores_side_by_side({"chroma": chroma_idx, "faiss": faiss_idx}, "Who owns AquaLedger?", k=5)  # doctest: +SKIP
    >>> r.embed_ms, r.stores["faiss"].search_ms, [h.source for h in r.stores["faiss"].hits]                # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lab.rag import modes


@dataclass
class StoreRun:
    hits: list
    search_ms: float


@dataclass
class SideBySide:
    query: str
    mode: str
    embed_ms: float
    sub_queries: list[str] = field(default_factory=list)
    stores: dict[str, StoreRun] = field(default_factory=dict)

    def agreement(self, a: str, b: str) -> float:
        """Shared chunks / all chunks of two stores' top k (1.0 = the same chunks)."""
        ids_a, ids_b = {h.id for h in self.stores[a].hits}, {h.id for h in self.stores[b].hits}
        return len(ids_a & ids_b) / max(1, len(ids_a | ids_b))


def stores_side_by_side(indexes: dict, query: str, k: int = 5, mode: str = "dense", repeats: int = 5) -> SideBySide:
    """``indexes`` must share one embedder (the query is embedded once for all of them)."""
    from lab.rag.retrieval import timed_search

    first = next(iter(indexes.values()))
    p = modes.plan(query, mode, first.embedder)
    out = SideBySide(p.question, mode, p.embed_ms, p.sub_queries)
    for name, idx in indexes.items():
        hits, ms = timed_search(idx, p, k, repeats)
        out.stores[name] = StoreRun(hits, ms)
    return out


@dataclass
class ModeRun:
    mode: str
    embedder: str
    hits: list
    embed_ms: float
    search_ms: float
    sub_queries: list[str] = field(default_factory=list)


def modes_side_by_side(index_for, query: str, k: int = 5, which=modes.MODES, repeats: int = 3) -> list[ModeRun]:
    """One query in every mode. ``index_for(mode)`` returns the index to use (``best`` may use another embedder)."""
    from lab.rag.retrieval import timed_search

    runs = []
    for mode in which:
        idx = index_for(mode)
        p = modes.plan(query, mode, idx.embedder)
        hits, ms = timed_search(idx, p, k, repeats)
        runs.append(ModeRun(mode, idx.embedder.name, hits, p.embed_ms, ms, p.sub_queries))
    return runs
