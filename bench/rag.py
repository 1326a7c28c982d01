"""FAISS flat (exact), FAISS HNSW (approximate) and Chroma (HNSW): build time, query time and recall@5.

    $ .venv/bin/python -m bench.rag              # knowledge base + 100,000 random unit vectors (384-d)
    $ .venv/bin/python -m bench.rag --n 20000 --skip-kb    # a quicker synthetic run, no model loaded

Every store gets the *same* float32 unit vectors. FAISS flat is the exact reference: recall@5 = mean share of its
top-5 ids that a store also returns (1.0 = identical). Ratios printed are build time / Chroma's. Query time is
the store's own search, warm, one query at a time, median over the queries; embedding time is reported
separately for the knowledge base.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np


def _time_queries(store, queries: np.ndarray, k: int = 5) -> tuple[float, list[list[str]]]:
    store.query(queries[0], k)  # warm-up: first-call costs are not the store's speed
    times, ids = [], []
    for q in queries:
        t0 = time.perf_counter()
        hits = store.query(q, k)
        times.append((time.perf_counter() - t0) * 1000)
        ids.append([h.id for h in hits])
    return statistics.median(times), ids


KINDS = ("faiss-flat", "faiss-hnsw", "faiss-ivf", "chroma")


def compare(
    name: str,
    ids: list[str],
    vectors: np.ndarray,
    texts: list[str],
    metas: list[dict],
    queries: np.ndarray,
    kinds=KINDS,
) -> dict:
    """Build every store from the same vectors; recall@5 of each against FAISS flat (exact)."""
    from lab.rag.chroma_store import ChromaStore, _forget_chroma_system
    from lab.rag.faiss_store import FaissStore

    dim = vectors.shape[1]
    row = {"case": name, "vectors": len(ids), "stores": {}}
    found = {}
    with tempfile.TemporaryDirectory(prefix="bench-rag-") as tmp:
        path = Path(tmp) / "chroma"
        for kind in kinds:
            t0 = time.perf_counter()
            store = (
                ChromaStore("bench", dim, path=path, url="")
                if kind == "chroma"
                else FaissStore(dim, kind.split("-", 1)[1])
            )
            store.add(ids, vectors, texts, metas)
            r = {"build_s": time.perf_counter() - t0}
            r["query_ms_p50"], found[kind] = _time_queries(store, queries)
            r["bytes"] = store.size_bytes()
            row["stores"][kind] = r
            if kind == "chroma":
                store.close()
                _forget_chroma_system(path)
            del store
    exact = found["faiss-flat"]
    for kind, r in row["stores"].items():
        r["recall_at_5"] = float(np.mean([len(set(a) & set(b)) / max(1, len(b)) for a, b in zip(found[kind], exact)]))
    return row


def print_row(r: dict) -> None:
    print(f"\n{r['case']}: {r['vectors']:,} vectors (recall@5 against FAISS flat, the exact answer)")
    chroma = r["stores"].get("chroma")
    for kind, s in r["stores"].items():
        ratio = f"  build / Chroma's {s['build_s'] / chroma['build_s']:.3f}" if chroma and kind != "chroma" else ""
        print(
            f"  {kind:11} build {s['build_s']:8.3f} s   query p50 {s['query_ms_p50']:7.3f} ms   "
            f"recall@5 {s['recall_at_5']:.3f}   {s['bytes'] / 1e6:7.1f} MB{ratio}"
        )


def synthetic(n: int, queries: int, data: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``random``: uniform on the sphere (no structure: the hardest case for approximate indexes);
    ``clustered``: points around 1,000 centres, as real embeddings cluster by topic."""
    rng = np.random.default_rng(seed)
    if data == "random":
        v = rng.standard_normal((n, 384), dtype=np.float32)
        q = rng.standard_normal((queries, 384), dtype=np.float32)
    else:
        centres = rng.standard_normal((1000, 384), dtype=np.float32)
        v = centres[rng.integers(0, 1000, n)] + 0.6 * rng.standard_normal((n, 384), dtype=np.float32)
        q = centres[rng.integers(0, 1000, queries)] + 0.6 * rng.standard_normal((queries, 384), dtype=np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return v, q


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m bench.rag")
    ap.add_argument("--n", type=int, default=100_000, help="Synthetic vectors (default 100,000).")
    ap.add_argument("--queries", type=int, default=200, help="Queries per store.")
    ap.add_argument("--data", choices=("random", "clustered"), default="random", help="Synthetic vectors' shape.")
    ap.add_argument("--skip-kb", action="store_true", help="Only the synthetic case (no embedding model loaded).")
    ap.add_argument("--stores", nargs="+", choices=KINDS, default=list(KINDS))
    args = ap.parse_args(argv)
    kinds = ["faiss-flat"] + [k for k in args.stores if k != "faiss-flat"]  # flat is the exact reference

    if not args.skip_kb:
        from lab.rag.chunking import ChunkOptions, split_documents
        from lab.rag.embeddings import embed_queries, get_embedder
        from lab.rag.evaluation import load_questions
        from lab.rag.loading import load_documents

        embedder = get_embedder("minilm", cache=True)
        chunks = split_documents(load_documents(), ChunkOptions())
        t0 = time.perf_counter()
        vectors = embedder.embed([c.page_content for c in chunks])
        print(f"knowledge base: {len(chunks)} chunks embedded (or read from cache) in {time.perf_counter() - t0:.2f} s")
        questions = [q.question for q in load_questions()]
        embed_queries(embedder, ["warm up"])  # load the model outside the timing
        times = []
        for q in questions:
            t0 = time.perf_counter()
            embed_queries(embedder, [q])
            times.append((time.perf_counter() - t0) * 1000)
        qv = embed_queries(embedder, questions)
        print(
            f"MiniLM query embedding: {statistics.median(times):.1f} ms per question (median; this, not the store, "
            f"dominates a query on the knowledge base)"
        )
        print_row(
            compare(
                "knowledge base (MiniLM)",
                [c.metadata["id"] for c in chunks],
                vectors,
                [c.page_content for c in chunks],
                [c.metadata for c in chunks],
                qv,
                kinds,
            )
        )

    v, q = synthetic(args.n, args.queries, args.data)
    ids = [f"s{i}" for i in range(args.n)]
    metas = [{"source": f"synthetic/{i // 100}.md", "doc_type": "synthetic"} for i in range(args.n)]
    texts = [f"chunk {i}" for i in range(args.n)]
    print_row(compare(f"synthetic ({args.data} unit vectors, 384-d)", ids, v, texts, metas, q, kinds))
    print(
        "\nFAISS flat compares the query with every vector (exact, time grows with n); HNSW walks a graph "
        "(approximate: recall@5 < 1 means it missed some true neighbours). Chroma's index is HNSW too."
    )


if __name__ == "__main__":
    main()
