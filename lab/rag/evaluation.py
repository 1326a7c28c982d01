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
with an ideal fixed by the expected files, so the few lines are written out here.
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

from lab.llm.base import InputError
from lab.rag.chunking import ChunkOptions, split_documents

QUESTIONS_PATH = Path(__file__).with_name("eval_questions.jsonl")
GREEN, AMBER = 0.9, 0.75   # the same thresholds for MRR, nDCG and coverage (as a fraction)


class EvalQuestion(BaseModel):
    question: str = Field(min_length=1, description="What a user asks.")
    expected_sources: list[str] = Field(min_length=1, description="Repo-relative files that hold the answer.")
    keywords: list[str] = Field(default_factory=list, description="Strings a good context must contain.")
    doc_type: str = Field("", description="The folder (doc_type) of the main expected file.")


def load_questions(path: Path | str | None = None) -> list[EvalQuestion]:
    path = Path(path) if path else QUESTIONS_PATH
    rows = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip():
            try:
                rows.append(EvalQuestion(**json.loads(line)))
            except (ValueError, TypeError) as e:
                raise InputError(f"{path.name} line {n} is not a valid question: {e}") from e
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
    rank: int | None          # rank of the first relevant chunk (None: not in the top k)
    rr: float
    ndcg: float
    coverage: float
    missing_keywords: list[str]
    query_ms: float


@dataclass
class StoreEval:
    store: str
    k: int
    mrr: float
    ndcg: float
    coverage: float
    build_s: float
    query_ms_p50: float
    chunks: int
    rows: list[QuestionResult] = field(default_factory=list)

    def to_dict(self, rows: bool = False) -> dict:
        d = {k: v for k, v in asdict(self).items() if k != "rows"}
        d.update({k: round(v, 4) for k, v in d.items() if isinstance(v, float)})
        d["colours"] = {"mrr": colour(self.mrr), "ndcg": colour(self.ndcg), "coverage": colour(self.coverage)}
        if rows:
            d["rows"] = [asdict(r) for r in self.rows]
        return d


def evaluate_store(store, query_vectors, questions: list[EvalQuestion], k: int, build_s: float = 0.0) -> StoreEval:
    """Query ``store`` with pre-computed question vectors (so only the store's own latency is timed)."""
    rows = []
    for q, vec in zip(questions, query_vectors):
        t0 = time.perf_counter()
        hits = store.query(vec, k)
        ms = (time.perf_counter() - t0) * 1000
        ranked = [h.source for h in hits]
        expected = set(q.expected_sources)
        rr = reciprocal_rank(ranked, expected)
        blob = "\n".join(h.text for h in hits).lower()
        rows.append(QuestionResult(q.question, q.doc_type, q.expected_sources, ranked,
                                   round(1 / rr) if rr else None, rr, ndcg_at_k(ranked, expected, k),
                                   keyword_coverage([h.text for h in hits], q.keywords),
                                   [kw for kw in q.keywords if kw.lower() not in blob], ms))
    mean = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731
    return StoreEval(store.name, k, mean([r.rr for r in rows]), mean([r.ndcg for r in rows]),
                     mean([r.coverage for r in rows]), build_s,
                     statistics.median([r.query_ms for r in rows]) if rows else 0.0, store.count(), rows)


def evaluate(k: int = 5, options: ChunkOptions | None = None, embedder=None, stores=("chroma", "faiss"),
             questions: list[EvalQuestion] | None = None, docs=None) -> dict[str, StoreEval]:
    """Build each store from the *same* chunk vectors (Chroma in a fresh temporary directory, so ``build_s`` is
    a real build), then run every question. Embedding time is shared and not part of ``build_s``."""
    from lab.rag.embeddings import get_embedder
    from lab.rag.loading import load_documents
    from lab.rag.retrieval import make_store
    from lab.rag.stores import _forget_chroma_system

    if not 1 <= k <= 100:
        raise InputError(f"k={k}: evaluate with between 1 and 100 chunks.")
    options = options or ChunkOptions()
    embedder = embedder or get_embedder("minilm", cache=True)
    questions = questions or load_questions()
    chunks = split_documents(docs or load_documents(), options)
    vectors = embedder.embed([c.page_content for c in chunks])
    qvecs = getattr(embedder, "inner", embedder).embed([q.question for q in questions])
    out = {}
    for kind in stores:
        with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
            t0 = time.perf_counter()
            store = make_store(kind, embedder.dim, "eval", path=Path(tmp) / "chroma", url="")
            store.add([c.metadata["id"] for c in chunks], vectors, [c.page_content for c in chunks],
                      [c.metadata for c in chunks])
            build_s = time.perf_counter() - t0
            out[kind] = evaluate_store(store, qvecs, questions, k, build_s)
            if kind == "chroma":
                store.close()
                _forget_chroma_system(Path(tmp) / "chroma")
    return out


def sweep(chunk_sizes=(300, 400, 700), overlaps=(0, 50), ks=(3, 5, 8), add_title: bool = True,
          embedder=None, questions=None, on_progress=None) -> list[dict]:
    """MRR / nDCG / coverage for every chunk size x overlap x k, on FAISS (exact, and fastest to rebuild).
    Each (size, overlap) re-chunks and re-embeds (the embedding cache makes a repeated sweep fast)."""
    from lab.rag.embeddings import get_embedder
    from lab.rag.loading import load_documents
    from lab.rag.stores import FaissStore

    embedder = embedder or get_embedder("minilm", cache=True)
    questions = questions or load_questions()
    docs = load_documents()
    qvecs = getattr(embedder, "inner", embedder).embed([q.question for q in questions])
    rows = []
    for size in chunk_sizes:
        for overlap in overlaps:
            if overlap >= size:
                continue
            if on_progress:
                on_progress(f"chunk size {size}, overlap {overlap}")
            chunks = split_documents(docs, ChunkOptions(chunk_size=size, chunk_overlap=overlap, add_title=add_title))
            store = FaissStore(embedder.dim)
            store.add([c.metadata["id"] for c in chunks], embedder.embed([c.page_content for c in chunks]),
                      [c.page_content for c in chunks], [c.metadata for c in chunks])
            for k in ks:
                r = evaluate_store(store, qvecs, questions, k)
                rows.append({"chunk_size": size, "overlap": overlap, "k": k, "chunks": len(chunks),
                             "mrr": round(r.mrr, 4), "ndcg": round(r.ndcg, 4), "coverage": round(r.coverage, 4)})
    return rows
