"""The persisted store: a chromadb collection in cosine space behind the ``VectorStore`` interface.

It lives under ``<data_dir>/rag/chroma`` (or on a Chroma server: ``chroma run --path /srv/chroma --port 8000`` on
one machine, then ``LAB_CHROMA_URL=http://that-host:8000`` for the whole class, who then share one store). Chroma
reports cosine *distance*; we turn it into similarity (1 - distance) so its scores compare directly with FAISS's.
Chroma's HNSW index is approximate; on a few thousand vectors it finds the exact top-k.

A directory that cannot be opened (corrupted, or locked by another process) raises ``IndexUnavailable`` naming
the fix; ``reset_chroma_dir()`` rebuilds it, and refuses any folder that is not a lab-made index:

    >>> from lab.rag.loading import KB_DIR
    >>> reset_chroma_dir(KB_DIR)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: Refusing to delete ...knowledge-base: that holds the knowledge base, not an index.

One that opens but whose files changed since the lab wrote them (a damaged HNSW file still answers, wrongly) is
caught by the manifest check (``manifest.py``, ``retrieval.get_index``).
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import numpy as np

from lab.core.errors import InputError
from lab.rag.stores import Hit, IndexUnavailable, RagSettings, VectorStore, _as_matrix, _check_k


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
        # No count() first: Chroma answers an empty collection with [] and a short one with what it has, and the
        # extra round trip was ~0.5 ms of a ~2 ms query.
        r = self._call(
            self.collection.query,
            query_embeddings=q,
            n_results=k,
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
