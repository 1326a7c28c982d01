"""One small vector-store interface and what every store shares: the ``Hit``, the settings, incremental ``sync()``.

Two implementations answer it: ``ChromaStore`` (``lab.rag.chroma_store``, persisted on disk or on a Chroma
server) and ``FaissStore`` (``lab.rag.faiss_store``, in memory: flat, HNSW or IVF). Both take the *same* unit
vectors and answer with cosine similarity, best first, so on the same vectors they return the same chunks:

    >>> import numpy as np
    >>> from lab.rag.faiss_store import FaissStore
    >>> v = np.eye(3, dtype="float32")                  # three orthogonal unit vectors
    >>> s = FaissStore(dim=3)
    >>> s.add(["a", "b", "c"], v, ["alpha", "beta", "gamma"], [{"source": f"{x}.md", "doc_type": "t"} for x in "abc"])
    >>> [(h.id, round(h.score, 2)) for h in s.query(np.array([0.6, 0.8, 0], dtype="float32"), k=2)]
    [('b', 0.8), ('a', 0.6)]

``sync()`` makes re-indexing incremental: every chunk carries its file's SHA-256, so only files whose hash
changed are re-split and re-embedded, and chunks of deleted files are removed. A store that cannot be opened
raises ``IndexUnavailable`` naming the fix. The markdown in ``knowledge-base/`` is only ever read.

Each store guards itself with a lock, so many sessions (threads) can query one shared index while it updates.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from langchain_core.documents import Document
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from lab.core.errors import InputError, LabError
from lab.rag.chunking import ChunkOptions, split_documents

STORES = ("chroma", "faiss")


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
