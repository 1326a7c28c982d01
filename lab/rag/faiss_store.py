"""The in-memory store: FAISS behind the ``VectorStore`` interface, exact (flat) or approximate (HNSW, IVF).

``faiss.IndexFlatIP`` (exact inner product = cosine on unit vectors) sits inside an ``IndexIDMap2`` so chunks can
be removed; texts and metadata live in a dict. The index lives and dies with the process.
``index_type="hnsw"`` swaps in ``IndexHNSWFlat``, an approximate graph index (see ``bench.rag`` for its recall):

    >>> import numpy as np
    >>> s = FaissStore(dim=2, index_type="hnsw")
    >>> s.add(["a", "b"], np.eye(2, dtype="float32"), ["x", "y"], [{"source": "a.md"}, {"source": "b.md"}])
    >>> s.query(np.array([0.0, 1.0], dtype="float32"), k=1)[0].id
    'b'
"""

from __future__ import annotations

import threading

import numpy as np

from lab.core.errors import InputError
from lab.rag.stores import Hit, VectorStore, _as_matrix, _check_k

FAISS_INDEXES = ("flat", "hnsw", "ivf")
# HNSW graph: 16 links per node, 40 candidates while building, 64 while searching (FAISS's usual starting point).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 40, 64
# IVF: k-means cells, about 4 x sqrt(n) of them, trained on the first batch added; a query scans 1/16 of them.
# Both measured with bench.rag (README, RAG): clustered vectors, like real embeddings, are found; uniformly random
# 384-d vectors (no structure at all) defeat every approximate index.
IVF_CELLS_PER_SQRT_N, IVF_PROBE_SHARE = 4, 16


class FaissStore(VectorStore):
    """``index_type="flat"``: exact search (every vector compared). ``"hnsw"``: an approximate graph index
    (``IndexHNSWFlat``): far fewer comparisons per query at 100k vectors, at the price of sometimes missing a true
    neighbour (recall < 1). ``"ivf"``: vectors grouped into k-means cells (``IndexIVFFlat``), a query scans only
    the nearest cells; fast to build, approximate too. Both rebuild from the kept vectors after a removal."""

    name = "faiss"

    def __init__(self, dim: int, index_type: str = "flat") -> None:
        import faiss

        if index_type not in FAISS_INDEXES:
            raise InputError(f"Unknown FAISS index type {index_type!r}; choose one of: {', '.join(FAISS_INDEXES)}.")
        self.index_type = index_type

        # One query, one thread: OpenMP fanning a single search out over cores costs more than it saves (measured
        # on 2 busy cores: 28 ms with 2 threads vs 0.01 ms with 1 for 255 vectors). Concurrency comes from many
        # sessions querying at once instead. (Process-wide setting; it only affects faiss.)
        faiss.omp_set_num_threads(1)
        self._faiss = faiss
        self.dim = dim
        self.index = faiss.IndexIDMap2(self._new_inner())
        self._vectors: dict[int, np.ndarray] = {}  # approximate indexes only: to rebuild, and to list vectors
        self._records: dict[int, tuple[str, str, dict]] = {}  # faiss int64 id -> (chunk id, text, metadata)
        self._by_chunk: dict[str, int] = {}
        self._next = 0
        self._lock = threading.RLock()

    def _new_inner(self, n: int = 0):
        if self.index_type == "ivf":
            nlist = max(1, min(n, int(IVF_CELLS_PER_SQRT_N * n**0.5)))
            inner = self._faiss.IndexIVFFlat(
                self._faiss.IndexFlatIP(self.dim), self.dim, nlist, self._faiss.METRIC_INNER_PRODUCT
            )
            inner.nprobe = max(1, min(nlist, max(8, nlist // IVF_PROBE_SHARE)))
            return inner
        if self.index_type == "hnsw":
            inner = self._faiss.IndexHNSWFlat(self.dim, HNSW_M, self._faiss.METRIC_INNER_PRODUCT)
            inner.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
            inner.hnsw.efSearch = HNSW_EF_SEARCH
            return inner
        return self._faiss.IndexFlatIP(self.dim)

    def _add_rows(self, m: np.ndarray, nums: np.ndarray) -> None:
        if self.index_type == "flat":
            self.index.add_with_ids(m, nums)
            return
        import os

        # Building a graph or clustering is worth every core (a query is not: see __init__); restored right after.
        self._faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            if self.index_type == "ivf" and self.index.ntotal == 0:
                # cells are learnt from the first batch (k-means); later batches are only assigned to them
                self.index = self._faiss.IndexIDMap2(self._new_inner(len(m)))
                self.index.index.train(m)
            self.index.add_with_ids(m, nums)
        finally:
            self._faiss.omp_set_num_threads(1)
        self._vectors.update(zip(nums.tolist(), m))

    def add(self, ids, vectors, texts, metadatas) -> None:
        m = _as_matrix(vectors, self.dim)
        if not (len(ids) == len(m) == len(texts) == len(metadatas)):
            raise InputError("ids, vectors, texts and metadatas must have the same length.")
        with self._lock:
            old = [self._by_chunk[i] for i in ids if i in self._by_chunk]
            if old:  # upsert: replace chunks that are already there
                self._remove(old)
            nums = np.arange(self._next, self._next + len(ids), dtype=np.int64)
            self._next += len(ids)
            self._add_rows(m, nums)
            for n, cid, text, meta in zip(nums.tolist(), ids, texts, metadatas):
                self._records[n] = (cid, text, dict(meta))
                self._by_chunk[cid] = n

    def _remove(self, nums: list[int]) -> None:
        if self.index_type == "flat":
            self.index.remove_ids(np.asarray(nums, dtype=np.int64))
        else:  # HNSW cannot unlink nodes (and IVF under an id map would shift ids): rebuild from the kept vectors
            for n in nums:
                self._vectors.pop(n, None)
            keep = sorted(self._vectors)
            self.index = self._faiss.IndexIDMap2(self._new_inner())
            if keep:
                rows = np.vstack([self._vectors[n] for n in keep]).astype(np.float32)
                self._vectors.clear()
                self._add_rows(rows, np.asarray(keep, dtype=np.int64))
        for n in nums:
            cid, _, _ = self._records.pop(n)
            self._by_chunk.pop(cid, None)

    def delete_sources(self, sources) -> int:
        wanted = set(sources)
        with self._lock:
            nums = [n for n, (_, _, meta) in self._records.items() if meta.get("source") in wanted]
            if nums:
                self._remove(nums)
            return len(nums)

    def query(self, vector, k: int = 5) -> list[Hit]:
        q = _as_matrix(vector, self.dim)
        k = _check_k(k)
        with self._lock:  # a search racing a remove_ids could see a half-updated index
            if self.index.ntotal == 0:
                return []
            scores, nums = self.index.search(q, min(k, self.index.ntotal))
            out = []
            for s, n in zip(scores[0].tolist(), nums[0].tolist()):
                if n >= 0:
                    cid, text, meta = self._records[n]
                    out.append(Hit(cid, float(s), text, dict(meta)))
            return out

    def count(self) -> int:
        return int(self.index.ntotal)

    def file_hashes(self) -> dict[str, str]:
        with self._lock:
            return {m["source"]: m.get("sha256", "") for _, _, m in self._records.values()}

    def size_bytes(self) -> int:
        """Bytes the index takes in memory (its serialised form: the raw float32 vectors plus the id map)."""
        with self._lock:
            return int(self._faiss.serialize_index(self.index).nbytes)

    def all_vectors(self):
        with self._lock:
            n = self.index.ntotal
            if n == 0:
                return [], np.zeros((0, self.dim), np.float32), [], []
            if self.index_type != "flat":
                rows = sorted(self._vectors)
                recs = [self._records[r] for r in rows]
                return (
                    [r[0] for r in recs],
                    np.vstack([self._vectors[r] for r in rows]).astype(np.float32),
                    [r[1] for r in recs],
                    [dict(r[2]) for r in recs],
                )
            vecs = self.index.index.reconstruct_n(0, n)  # the flat index keeps rows in insertion order
            rows = self._faiss.vector_to_array(self.index.id_map).tolist()  # row -> our int id
            recs = [self._records[r] for r in rows]
            return [r[0] for r in recs], vecs, [r[1] for r in recs], [dict(r[2]) for r in recs]
