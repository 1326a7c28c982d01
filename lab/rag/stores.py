"""One small vector-store interface, two implementations: Chroma (persisted on disk) and FAISS (in memory).

Both take the *same* unit vectors and answer with cosine similarity, best first, so on the same vectors they
return the same chunks (Chroma's HNSW index is approximate; on a few thousand vectors it finds the exact top-k):

    >>> import numpy as np
    >>> v = np.eye(3, dtype="float32")                  # three orthogonal unit vectors
    >>> s = FaissStore(dim=3)
    >>> s.add(["a", "b", "c"], v, ["alpha", "beta", "gamma"], [{"source": f"{x}.md", "doc_type": "t"} for x in "abc"])
    >>> [(h.id, round(h.score, 2)) for h in s.query(np.array([0.6, 0.8, 0], dtype="float32"), k=2)]
    [('b', 0.8), ('a', 0.6)]

- ``FaissStore``: ``faiss.IndexFlatIP`` (exact inner product = cosine on unit vectors) inside an
  ``IndexIDMap2`` so chunks can be removed; texts and metadata in a dict. Lives and dies with the process.
  ``index_type="hnsw"`` swaps in ``IndexHNSWFlat``, an approximate graph index (see ``bench.rag`` for its recall).
- ``ChromaStore``: a chromadb collection in cosine space, persisted under ``<data_dir>/rag/chroma`` (or on a
  Chroma server: ``chroma run --path /srv/chroma --port 8000`` on one machine, then ``LAB_CHROMA_URL=http://
  that-host:8000`` for the whole class, who then share one store). Chroma reports cosine *distance*; we turn
  it into similarity (1 - distance) so the two stores' scores compare directly.

``sync()`` makes re-indexing incremental: every chunk carries its file's SHA-256, so only files whose hash
changed are re-split and re-embedded, and chunks of deleted files are removed. A Chroma directory that cannot
be opened (corrupted, or locked by another process) raises ``IndexUnavailable`` naming the fix;
``reset_chroma_dir()`` rebuilds it. One that opens but whose files changed since the lab wrote them (a damaged
HNSW file still answers, wrongly) is caught by the manifest check (``manifest.py``, ``retrieval.get_index``). The markdown in ``knowledge-base/`` is only ever read.

Each store guards itself with a lock, so many sessions (threads) can query one shared index while it updates.
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from langchain_core.documents import Document
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lab.core.errors import InputError, LabError
from lab.rag.chunking import ChunkOptions, split_documents

STORES = ("chroma", "faiss")
FAISS_INDEXES = ("flat", "hnsw", "ivf")
# HNSW graph: 16 links per node, 40 candidates while building, 64 while searching (FAISS's usual starting point).
HNSW_M, HNSW_EF_CONSTRUCTION, HNSW_EF_SEARCH = 16, 40, 64
# IVF: k-means cells, about 4 x sqrt(n) of them, trained on the first batch added; a query scans 1/16 of them.
# Both measured with bench.rag (README, RAG): clustered vectors, like real embeddings, are found; uniformly random
# 384-d vectors (no structure at all) defeat every approximate index.
IVF_CELLS_PER_SQRT_N, IVF_PROBE_SHARE = 4, 16


class IndexUnavailable(LabError):
    """The vector index cannot be opened or used (corrupted or locked directory, server down)."""


class RagSettings(BaseSettings):
    """Where the Chroma store lives. (Deployment knobs; the rest of the lab's settings are in lab.core.settings.)"""

    model_config = SettingsConfigDict(env_prefix="LAB_", extra="ignore")

    chroma_url: str | None = Field(
        None,
        description="A Chroma server (e.g. http://10.0.0.5:8000, started with "
        "`chroma run --path DIR --port 8000`) shared by a class; empty = on disk here.",
    )


@dataclass
class Hit:
    """One retrieved chunk: cosine similarity ``score`` (1 = same direction), best first."""

    id: str
    score: float
    text: str
    metadata: dict = field(default_factory=dict)

    @property
    def source(self) -> str:
        return self.metadata.get("source", "")

    @property
    def doc_type(self) -> str:
        return self.metadata.get("doc_type", "")

    def to_dict(self) -> dict:
        """The CLI's JSON shape."""
        return {
            "source": self.source,
            "doc_type": self.doc_type,
            "score": round(float(self.score), 6),
            "text": self.text,
        }


def _as_matrix(vectors, dim: int) -> np.ndarray:
    m = np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] != dim:
        raise InputError(
            f"Vectors of shape {m.shape} do not fit this index of dimension {dim} "
            "(was it built with another embedding model? Re-index)."
        )
    return m


class VectorStore:
    """The interface both stores implement. ``add`` upserts; ``query`` returns up to k hits, best first."""

    name = "store"
    dim: int

    def add(self, ids: list[str], vectors, texts: list[str], metadatas: list[dict]) -> None:
        raise NotImplementedError

    def delete_sources(self, sources: list[str]) -> int:
        raise NotImplementedError

    def query(self, vector, k: int = 5) -> list[Hit]:
        raise NotImplementedError

    def count(self) -> int:
        raise NotImplementedError

    def file_hashes(self) -> dict[str, str]:
        raise NotImplementedError

    def size_bytes(self) -> int:
        raise NotImplementedError

    def all_vectors(self) -> tuple[list[str], np.ndarray, list[str], list[dict]]:
        raise NotImplementedError


def _check_k(k: int) -> int:
    if not 1 <= int(k) <= 100:
        raise InputError(f"k={k}: ask for between 1 and 100 chunks.")
    return int(k)


# ---------------------------------------------------------------------------------------------- FAISS
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


# ---------------------------------------------------------------------------------------------- Chroma
def default_chroma_dir() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "rag" / "chroma"


def _forget_chroma_system(path: Path) -> None:
    """chromadb caches one System per directory and keeps a half-started one after a failed open, so the same
    path can never be reopened in this process. Its public reset (``clear_system_cache``) would also drop every
    *other* open store in the process (other sessions'), so we drop just this directory's entry."""
    from chromadb.api.shared_system_client import SharedSystemClient

    for key in (str(path), str(path.resolve())):
        SharedSystemClient._identifier_to_system.pop(key, None)
        SharedSystemClient._identifier_to_refcount.pop(key, None)


def _unavailable(path, e: Exception) -> IndexUnavailable:
    msg = str(e)
    if "locked" in msg.lower():
        return IndexUnavailable(
            f"The Chroma index at {path} is locked by another process ({msg}). Close the other program using it "
            "(another `python -m lab rag index`?), or rebuild it: `python -m lab rag index --store chroma --rebuild`."
        )
    return IndexUnavailable(
        f"The Chroma index at {path} cannot be used: {type(e).__name__}: {msg}. It is probably corrupted. Rebuild "
        "it with `python -m lab rag index --store chroma --rebuild` (or the Rebuild button on the RAG page); the "
        "markdown in knowledge-base/ is not touched, only the index is made again from it."
    )


class ChromaStore(VectorStore):
    name = "chroma"

    def __init__(self, collection: str, dim: int, path: Path | str | None = None, url: str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings

        self.dim = dim
        self.url = url if url is not None else RagSettings().chroma_url
        self.path = Path(path) if path else default_chroma_dir()
        self._lock = threading.RLock()
        self._chroma_errors = (chromadb.errors.ChromaError, ValueError, RuntimeError, OSError)
        settings = Settings(anonymized_telemetry=False)  # no usage events sent anywhere
        where = self.url or self.path
        try:
            if self.url:
                from urllib.parse import urlparse

                u = urlparse(self.url)
                self.client = chromadb.HttpClient(
                    host=u.hostname or "localhost", port=u.port or 8000, ssl=u.scheme == "https", settings=settings
                )
            else:
                self.path.mkdir(parents=True, exist_ok=True)
                self.client = chromadb.PersistentClient(path=str(self.path), settings=settings)
            # embedding_function=None: we always pass our own vectors (the default would fetch an ONNX model)
            self.collection = self.client.get_or_create_collection(
                collection, configuration={"hnsw": {"space": "cosine"}}, metadata={"dim": dim}, embedding_function=None
            )
        except self._chroma_errors as e:
            if not self.url:
                _forget_chroma_system(self.path)
            if self.url:
                raise IndexUnavailable(
                    f"Cannot reach the Chroma server at {self.url} ({e}). Is `chroma run` "
                    "running there? Unset LAB_CHROMA_URL to use a local store."
                ) from e
            raise _unavailable(where, e) from e
        self._batch = self.client.get_max_batch_size()

    def _call(self, fn, *a, **kw):
        try:
            with self._lock:
                return fn(*a, **kw)
        except self._chroma_errors as e:
            raise _unavailable(self.url or self.path, e) from e

    def add(self, ids, vectors, texts, metadatas) -> None:
        m = _as_matrix(vectors, self.dim)
        for i in range(0, len(ids), self._batch):  # chroma refuses batches above its limit (5,461 here)
            j = i + self._batch
            self._call(
                self.collection.upsert,
                ids=list(ids[i:j]),
                embeddings=m[i:j],
                documents=list(texts[i:j]),
                metadatas=[dict(x) for x in metadatas[i:j]],
            )

    def delete_sources(self, sources) -> int:
        sources = list(sources)
        if not sources:
            return 0
        before = self.count()
        self._call(self.collection.delete, where={"source": {"$in": sources}})
        return before - self.count()

    def query(self, vector, k: int = 5) -> list[Hit]:
        q = _as_matrix(vector, self.dim)
        k = _check_k(k)
        n = self.count()
        if n == 0:
            return []
        r = self._call(
            self.collection.query,
            query_embeddings=q,
            n_results=min(k, n),
            include=["documents", "metadatas", "distances"],
        )
        return [
            Hit(i, 1.0 - float(d), t, dict(m or {}))
            for i, d, t, m in zip(r["ids"][0], r["distances"][0], r["documents"][0], r["metadatas"][0])
        ]

    def count(self) -> int:
        return int(self._call(self.collection.count))

    def file_hashes(self) -> dict[str, str]:
        r = self._call(self.collection.get, include=["metadatas"])
        return {m["source"]: m.get("sha256", "") for m in r["metadatas"] if m}

    def size_bytes(self) -> int:
        """Bytes on disk (sqlite + HNSW files); 0 for a server store (its disk is elsewhere)."""
        if self.url or not self.path.exists():
            return 0
        return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())

    def all_vectors(self):
        r = self._call(self.collection.get, include=["embeddings", "documents", "metadatas"])
        vecs = np.asarray(r["embeddings"], dtype=np.float32).reshape(-1, self.dim)
        return list(r["ids"]), vecs, list(r["documents"]), [dict(m) for m in r["metadatas"]]

    def write_manifest(self):
        """Record the persisted files' sizes and hashes (``manifest.py``); nothing for a server store."""
        if self.url:
            return None
        from lab.rag.manifest import write_manifest

        with self._lock:
            return write_manifest(self.path)

    def close(self) -> None:
        try:
            self.client.close()
        except Exception:  # closing a half-broken client must not hide the reason we are closing it
            pass


def reset_chroma_dir(path: Path | str | None = None) -> Path:
    """Delete a Chroma directory so the next ``ChromaStore`` starts empty (a rebuild re-embeds from markdown).

    Refuses any directory that is not a Chroma store made by this lab (never the knowledge base)."""
    from lab.rag.loading import KB_DIR

    path = Path(path) if path else default_chroma_dir()
    resolved = path.resolve()
    if resolved == KB_DIR.resolve() or KB_DIR.resolve() in resolved.parents or resolved in KB_DIR.resolve().parents:
        raise InputError(f"Refusing to delete {path}: that holds the knowledge base, not an index.")
    if path.exists():
        looks_like_chroma = (path / "chroma.sqlite3").exists() or not any(path.glob("*.md"))
        if not looks_like_chroma:
            raise InputError(f"Refusing to delete {path}: it does not look like a Chroma index directory.")
        _forget_chroma_system(path)
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------- sync
@dataclass
class SyncReport:
    """What a (re-)index did. ``seconds`` covers split + embed + write."""

    embedded_files: list[str]
    unchanged_files: int
    removed_files: list[str]
    chunks_embedded: int
    seconds: float
    embed_seconds: float

    def line(self) -> str:
        return (
            f"{len(self.embedded_files)} file(s) (re)indexed ({self.chunks_embedded} chunks), "
            f"{self.unchanged_files} unchanged, {len(self.removed_files)} removed, {self.seconds:.2f} s"
        )


def sync(
    store: VectorStore, docs: list[Document], embedder, options: ChunkOptions | None = None, on_progress=None
) -> SyncReport:
    """Bring ``store`` in line with ``docs``: re-embed only files whose SHA-256 changed, drop deleted files."""
    t0 = time.perf_counter()
    have = store.file_hashes()
    want = {d.metadata["source"]: d.metadata["sha256"] for d in docs}
    changed = [d for d in docs if have.get(d.metadata["source"]) != d.metadata["sha256"]]
    removed = sorted(set(have) - set(want))
    stale = [d.metadata["source"] for d in changed if d.metadata["source"] in have]
    store.delete_sources(removed + stale)
    chunks = split_documents(changed, options) if changed else []
    embed_s = 0.0
    if chunks:
        if on_progress:
            on_progress(f"embedding {len(chunks)} chunks from {len(changed)} file(s)")
        t1 = time.perf_counter()
        vectors = embedder.embed([c.page_content for c in chunks])
        embed_s = time.perf_counter() - t1
        store.add(
            [c.metadata["id"] for c in chunks], vectors, [c.page_content for c in chunks], [c.metadata for c in chunks]
        )
    return SyncReport(
        [d.metadata["source"] for d in changed],
        len(docs) - len(changed),
        removed,
        len(chunks),
        time.perf_counter() - t0,
        embed_s,
    )
