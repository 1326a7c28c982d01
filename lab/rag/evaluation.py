"""Score retrieval against a question set: MRR, nDCG@k and keyword coverage, per store, with a drill-down.

Each question names the file(s) that hold its answer and keywords the answer needs. For one question, with the
top-k chunks' sources in rank order:

- reciprocal rank = 1 / rank of the first chunk from an expected file (0 when none is in the top k);
  MRR is its mean over the questions;
- nDCG@k: gain 1 for the first chunk of each expected file (a second chunk of the same file adds nothing
  new), discounted by log2(rank + 1), divided by the best possible score (all expected files at the top);
- keyword coverage = share of the keywords found (case-insensitive) in the top-k chunks' text.

    >>> ranked = ["b.md", "a.md", "a.md", "c.md"]
    >>> reciprocal_rank(ranked, {"a.md"})                 # first hit at rank 2
    0.5
    >>> round(ndcg_at_k(ranked, {"a.md", "c.md"}, k=4), 4)   # (1/log2(3) + 1/log2(5)) / (1 + 1/log2(3))
    0.6509
    >>> keyword_coverage(["Price: $3,250 per unit"], ["$3,250", "warranty"])
    0.5

The course's colours: green when MRR / nDCG >= 0.9 and coverage >= 90%, amber from 0.75 / 75%, red below.
sklearn's ``ndcg_score`` needs a relevance for every candidate document; ours come as a ranked list of chunks
with an ideal fixed by the expected files, so the few lines are written out here. One module because the
question set, the metrics and the runs over stores and settings are one evaluation, read top to bottom; ~360 lines.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pydantic import BaseModel, Field

from lab.core.errors import InputError
from lab.rag.chunking import ChunkOptions, split_documents

QUESTIONS_PATH = Path(__file__).with_name("eval_questions.jsonl")
GREEN, AMBER = 0.9, 0.75  # the same thresholds for MRR, nDCG and coverage (as a fraction)


class EvalQuestion(BaseModel):
    """One line of a question file. Fields not listed here are ignored (so any such file can be scored)."""

    question: str = Field(min_length=1, description="What a user asks.")
    expected_sources: list[str] = Field(min_length=1, description="Repo-relative files that hold the answer.")
    keywords: list[str] = Field(default_factory=list, description="Strings a good context must contain.")
    doc_type: str = Field("", description="The folder (doc_type) of the main expected file.")
    kind: str = Field(
        "",
        description="'' (worded like the document), 'paraphrase' (avoids its distinctive words) "
        "or 'two-doc' (needs two documents).",
    )


def load_questions(path: Path | str | None = None) -> list[EvalQuestion]:
    path = Path(path) if path else QUESTIONS_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(
            f"Cannot read the question file {path}: {type(e).__name__}: {e}. It should be JSON "
            "lines like lab/rag/eval_questions.jsonl."
        ) from e
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("a line must be a JSON object")
                rows.append(EvalQuestion(**data))
            except (ValueError, TypeError) as e:
                raise InputError(f"{path.name} line {n} is not a valid question: {e}") from e
    if not rows:
        raise InputError(
            f"{path.name} has no questions: one JSON object per line, with question, expected_sources and keywords."
        )
    return rows


# ---------------------------------------------------------------------------------------------- metrics
def reciprocal_rank(ranked_sources: list[str], expected: set[str]) -> float:
    for rank, src in enumerate(ranked_sources, 1):
        if src in expected:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(ranked_sources: list[str], expected: set[str], k: int) -> float:
    seen: set[str] = set()
    dcg = 0.0
    for rank, src in enumerate(ranked_sources[:k], 1):
        if src in expected and src not in seen:
            seen.add(src)
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(k, len(expected)) + 1))
    return dcg / ideal if ideal else 0.0


def keyword_coverage(texts: list[str], keywords: list[str]) -> float:
    if not keywords:
        return 1.0
    blob = "\n".join(texts).lower()
    return sum(kw.lower() in blob for kw in keywords) / len(keywords)


def colour(value: float) -> str:
    """'green' / 'amber' / 'red' for a metric in [0, 1] (coverage as a fraction)."""
    return "green" if value >= GREEN else "amber" if value >= AMBER else "red"


# ---------------------------------------------------------------------------------------------- runs
@dataclass
class QuestionResult:
    question: str
    doc_type: str
    expected: list[str]
    retrieved: list[str]
    rank: int | None  # rank of the first relevant chunk (None: not in the top k)
    rr: float
    ndcg: float
    coverage: float
    missing_keywords: list[str]
    query_ms: float  # embedding + search for this question
    kind: str = ""
    embed_ms: float = 0.0  # the question (and its sub-queries) embedded once, shared by the stores
    search_ms: float = 0.0  # this store's search (+ BM25 and fusion in those modes), warm, median of repeats
    sub_queries: list[str] = field(default_factory=list)


def _mean(xs) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


@dataclass
class StoreEval:
    store: str
    k: int
    mrr: float
    ndcg: float
    coverage: float
    build_s: float
    query_ms_p50: float  # embedding + search, per question, median
    chunks: int
    rows: list[QuestionResult] = field(default_factory=list)
    mode: str = "dense"
    embedder: str = ""
    embed_ms_p50: float = 0.0
    search_ms_p50: float = 0.0
    questions: int = 0

    def by_kind(self) -> dict[str, dict]:
        """MRR and coverage per question kind ('plain' for questions without one)."""
        out: dict[str, dict] = {}
        for kind in sorted({r.kind or "plain" for r in self.rows}):
            rows = [r for r in self.rows if (r.kind or "plain") == kind]
            out[kind] = {
                "n": len(rows),
                "mrr": round(_mean(r.rr for r in rows), 4),
                "coverage": round(_mean(r.coverage for r in rows), 4),
                "missed": sum(r.rank is None for r in rows),
            }
        return out

    def to_dict(self, rows: bool = False) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "rows"}
        d.update({k: round(v, 4) for k, v in d.items() if isinstance(v, float)})
        d["colours"] = {"mrr": colour(self.mrr), "ndcg": colour(self.ndcg), "coverage": colour(self.coverage)}
        d["by_kind"] = self.by_kind()
        if rows:
            d["rows"] = [
                {
                    **asdict(r),
                    "rr": round(r.rr, 4),
                    "ndcg": round(r.ndcg, 4),
                    "coverage": round(r.coverage, 4),
                    "query_ms": round(r.query_ms, 3),
                    "embed_ms": round(r.embed_ms, 3),
                    "search_ms": round(r.search_ms, 3),
                }
                for r in self.rows
            ]
        return d


def score_row(
    q: EvalQuestion, hits, k: int, embed_ms: float = 0.0, search_ms: float = 0.0, sub_queries: list[str] | None = None
) -> QuestionResult:
    ranked = [h.source for h in hits]
    expected = set(q.expected_sources)
    rr = reciprocal_rank(ranked, expected)
    blob = "\n".join(h.text for h in hits).lower()
    rank = next((i for i, src in enumerate(ranked, 1) if src in expected), None)
    return QuestionResult(
        q.question,
        q.doc_type,
        q.expected_sources,
        ranked,
        rank,
        rr,
        ndcg_at_k(ranked, expected, k),
        keyword_coverage([h.text for h in hits], q.keywords),
        [kw for kw in q.keywords if kw.lower() not in blob],
        embed_ms + search_ms,
        q.kind,
        embed_ms,
        search_ms,
        list(sub_queries or []),
    )


def summarise(
    name: str, rows: list[QuestionResult], k: int, build_s: float, chunks: int, mode: str = "dense", embedder: str = ""
) -> StoreEval:
    med = lambda xs: statistics.median(xs) if xs else 0.0  # noqa: E731
    return StoreEval(
        name,
        k,
        _mean(r.rr for r in rows),
        _mean(r.ndcg for r in rows),
        _mean(r.coverage for r in rows),
        build_s,
        med([r.query_ms for r in rows]),
        chunks,
        rows,
        mode,
        embedder,
        med([r.embed_ms for r in rows]),
        med([r.search_ms for r in rows]),
        len(rows),
    )


def evaluate_store(store, query_vectors, questions: list[EvalQuestion], k: int, build_s: float = 0.0) -> StoreEval:
    """Query ``store`` with pre-computed question vectors (dense mode; only the store's own latency is timed)."""
    rows = []
    for q, vec in zip(questions, query_vectors):
        t0 = time.perf_counter()
        hits = store.query(vec, k)
        rows.append(score_row(q, hits, k, 0.0, (time.perf_counter() - t0) * 1000))
    return summarise(store.name, rows, k, build_s, store.count())


def evaluate(
    k: int = 5,
    options: ChunkOptions | None = None,
    embedder=None,
    stores=("chroma", "faiss"),
    questions: list[EvalQuestion] | None = None,
    docs=None,
    mode: str = "dense",
    repeats: int = 3,
    faiss_index: str = "flat",
    on_progress=None,
) -> dict[str, StoreEval]:
    """Build each store from the *same* chunk vectors (Chroma in a fresh temporary directory, so ``build_s`` is
    a real build), then run every question in ``mode``. Each question is embedded once (``embed_ms``); each
    store's search is then timed alone, warm, median of ``repeats`` (``search_ms``). ``mode="best"`` uses the
    e5 embedder when it is installed and its own chunking (unless ``embedder`` / ``options`` are given)."""
    from lab.rag import modes
    from lab.rag.chroma_store import ChromaStore, _forget_chroma_system
    from lab.rag.embeddings import get_embedder
    from lab.rag.faiss_store import FaissStore
    from lab.rag.lexical import BM25Index
    from lab.rag.loading import load_documents

    if not 1 <= k <= 100:
        raise InputError(f"k={k}: evaluate with between 1 and 100 chunks.")
    modes.check_mode(mode)
    options = options or (modes.best_chunking() if mode == "best" else ChunkOptions())
    embedder = embedder or get_embedder(modes.best_embedder_name() if mode == "best" else "minilm", cache=True)
    questions = questions or load_questions()
    chunks = split_documents(docs or load_documents(), options)
    ids, texts, metas = (
        [c.metadata["id"] for c in chunks],
        [c.page_content for c in chunks],
        [c.metadata for c in chunks],
    )
    if on_progress:
        on_progress(f"embedding {len(chunks)} chunks with {embedder.name} (cached after the first run)")
    vectors = embedder.embed(texts)
    bm25 = BM25Index(ids, texts, metas) if mode != "dense" else None
    plans = [modes.plan(q.question, mode, embedder) for q in questions[:1]]  # warm-up (first-call costs)
    plans = [modes.plan(q.question, mode, embedder) for q in questions]
    out = {}
    for kind in stores:
        if on_progress:
            on_progress(f"{kind}: building and querying")
        with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
            t0 = time.perf_counter()
            store = (
                ChromaStore("eval", embedder.dim, path=Path(tmp) / "chroma", url="")
                if kind == "chroma"
                else FaissStore(embedder.dim, faiss_index)
            )
            store.add(ids, vectors, texts, metas)
            build_s = time.perf_counter() - t0
            modes.run(plans[0], store, bm25, k)
            rows = []
            for q, p in zip(questions, plans):
                hits, search_ms = modes.timed_run(p, store, bm25, k, repeats)
                rows.append(score_row(q, hits, k, p.embed_ms, search_ms, p.sub_queries))
            out[kind] = summarise(kind, rows, k, build_s, store.count(), mode, embedder.name)
            if kind == "chroma":
                store.close()
                _forget_chroma_system(Path(tmp) / "chroma")
    return out


def sweep(
    chunk_sizes=(300, 400, 700),
    overlaps=(0, 50),
    ks=(3, 5, 8),
    add_title: bool = True,
    embedder=None,
    questions=None,
    on_progress=None,
) -> list[dict]:
    """MRR / nDCG / coverage for every chunk size x overlap x k, on FAISS (exact, and fastest to rebuild).
    Each (size, overlap) re-chunks and re-embeds (the embedding cache makes a repeated sweep fast)."""
    from lab.rag.embeddings import get_embedder
    from lab.rag.faiss_store import FaissStore
    from lab.rag.loading import load_documents

    embedder = embedder or get_embedder("minilm", cache=True)
    questions = questions or load_questions()
    docs = load_documents()
    from lab.rag.embeddings import embed_queries

    qvecs = embed_queries(embedder, [q.question for q in questions])
    rows = []
    for size in chunk_sizes:
        for overlap in overlaps:
            if overlap >= size:
                continue
            if on_progress:
                on_progress(f"chunk size {size}, overlap {overlap}")
            chunks = split_documents(docs, ChunkOptions(chunk_size=size, chunk_overlap=overlap, add_title=add_title))
            store = FaissStore(embedder.dim)
            store.add(
                [c.metadata["id"] for c in chunks],
                embedder.embed([c.page_content for c in chunks]),
                [c.page_content for c in chunks],
                [c.metadata for c in chunks],
            )
            for k in ks:
                r = evaluate_store(store, qvecs, questions, k)
                rows.append(
                    {
                        "chunk_size": size,
                        "overlap": overlap,
                        "k": k,
                        "chunks": len(chunks),
                        "mrr": round(r.mrr, 4),
                        "ndcg": round(r.ndcg, 4),
                        "coverage": round(r.coverage, 4),
                    }
                )
    return rows
