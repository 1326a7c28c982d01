"""From a question to chunks: check the query, embed it, ask a store; as a langchain-core retriever too.

``get_index()`` builds (or incrementally updates) one index per (store, embedder, chunking) and shares it with
every caller in the process - thirty students querying one deployment share one FAISS index and one Chroma
collection, not thirty copies:

    >>> idx = get_index("faiss")                 # MiniLM, default chunking; the first call embeds or loads cache
    >>> [h.source for h in search(idx, "What does the AquaLedger Agency tier cost?", k=2)][0]
    'knowledge-base/products/aqualedger.md'

``StoreRetriever`` wraps an index as a ``langchain_core.retrievers.BaseRetriever``, so it composes with any
runnable (``retriever.invoke("question")`` returns Documents with ``score`` in their metadata); ``chain.py``
uses it.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever

from lab.core.errors import InputError
from lab.rag.chroma_store import ChromaStore
from lab.rag.chunking import ChunkOptions
from lab.rag.faiss_store import FaissStore
from lab.rag.stores import STORES, Hit, SyncReport, VectorStore, sync

# MiniLM reads ~256 word pieces (about 1,000 characters) and silently drops the rest; a question longer than
# this is almost certainly a pasted document, and retrieving with its first paragraph only would mislead.
MAX_QUERY_CHARS = 2000


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError("The question is empty: type what you want to find in the knowledge base.")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(
            f"The question is {len(query):,} characters; retrieval accepts up to {MAX_QUERY_CHARS:,} "
            "(the embedding model reads only ~1,000). Ask a shorter question."
        )
    return query.strip()


@dataclass
class Index:
    """A store plus the embedder and chunking it was built with, and what the last sync did."""

    store: VectorStore
    embedder: Any
    options: ChunkOptions
    report: SyncReport | None = None
    built_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    notice: str | None = None  # said once to the caller: e.g. a damaged Chroma index was rebuilt
    _bm25: Any = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.store.name

    def bm25(self):
        """BM25 over this index's chunks, built on first use and after every re-index (milliseconds)."""
        from lab.rag.lexical import BM25Index

        with self.lock:
            if self._bm25 is None:
                ids, _, texts, metas = self.store.all_vectors()
                self._bm25 = BM25Index(ids, texts, metas)
            return self._bm25

    def refresh(self, docs=None) -> SyncReport:
        """Re-read the knowledge base and re-embed only what changed (safe while others query)."""
        from lab.rag.loading import load_documents

        with self.lock:
            t0 = time.perf_counter()
            self.report = sync(self.store, docs if docs is not None else load_documents(), self.embedder, self.options)
            self.built_s = time.perf_counter() - t0
            self._bm25 = None
            if hasattr(self.store, "write_manifest"):
                self.store.write_manifest()  # what a later load checks the files against
            return self.report


def embed_query(embedder, query: str):
    """Queries skip the embedding cache (a cache of every question ever asked would only grow)."""
    from lab.rag.embeddings import embed_queries

    return embed_queries(embedder, [check_query(query)])[0]


def search(index: Index, query: str, k: int = 5, mode: str = "dense") -> list[Hit]:
    """Top ``k`` chunks for ``query``, best first, in a retrieval mode (see ``modes.py``)."""
    from lab.rag import modes

    if mode == "dense":
        return index.store.query(embed_query(index.embedder, query), k)
    p = modes.plan(query, mode, index.embedder)
    return modes.run(p, index.store, index.bm25(), k)


def timed_search(index: Index, plan, k: int = 5, repeats: int = 5) -> tuple[list[Hit], float]:
    """Search an already embedded plan (``modes.plan``) on this index, warm: (hits, median ms of the search alone)."""
    from lab.rag import modes

    bm25 = index.bm25() if plan.mode != "dense" else None
    modes.run(plan, index.store, bm25, k)  # warm-up: first-call costs are not the store's speed
    return modes.timed_run(plan, index.store, bm25, k, repeats)


def make_store(kind: str, dim: int, collection: str, **kw) -> VectorStore:
    if kind == "faiss":
        return FaissStore(dim, kw.get("faiss_index") or "flat")
    if kind == "chroma":
        return ChromaStore(collection, dim, path=kw.get("path"), url=kw.get("url"))
    raise InputError(f"Unknown store {kind!r}; choose one of: {', '.join(STORES)}.")


def collection_name(embedder_name: str, options: ChunkOptions) -> str:
    """Chroma needs 3-512 characters of [a-zA-Z0-9._-]: 'kb-minilm-recursive-700-150-t'."""
    return f"kb-{embedder_name}-{options.tag()}"


_INDEXES: dict[tuple, Index] = {}
_INDEXES_LOCK = threading.Lock()


def get_index(
    kind: str = "faiss",
    options: ChunkOptions | None = None,
    embedder=None,
    *,
    path=None,
    url=None,
    refresh: bool = False,
    faiss_index: str = "flat",
) -> Index:
    """The shared index for this configuration, built on first use; ``refresh=True`` re-syncs it with the
    knowledge base (only changed files are re-embedded)."""
    from lab.rag.embeddings import get_embedder

    options = options or ChunkOptions()
    embedder = embedder or get_embedder("minilm", cache=True)
    key = (kind, embedder.name, options.tag(), str(path), url) + (
        (faiss_index,) if kind == "faiss" and faiss_index != "flat" else ()
    )
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            notice = _verify_chroma_dir(path, url) if kind == "chroma" else None
            store = make_store(
                kind, embedder.dim, collection_name(embedder.name, options), path=path, url=url, faiss_index=faiss_index
            )
            index = Index(store, embedder, options, notice=notice)
            _INDEXES[key] = index
            fresh = True
        else:
            fresh = False
    if fresh or refresh:
        try:
            index.refresh()
        except Exception:
            with _INDEXES_LOCK:  # do not keep a half-built index around for the next caller
                _INDEXES.pop(key, None)
            raise
    elif index.report is None:  # another thread is building it right now: wait for that build
        with index.lock:
            pass
    return index


def _verify_chroma_dir(path, url) -> str | None:
    """Before opening a local Chroma directory: check it against its manifest; if its files differ, delete it
    (every cached index on it is dropped first) so it is rebuilt from the markdown, and say so.
    Called with ``_INDEXES_LOCK`` held."""
    from pathlib import Path

    from lab.rag.chroma_store import default_chroma_dir, reset_chroma_dir
    from lab.rag.manifest import check_manifest
    from lab.rag.stores import RagSettings

    if url if url is not None else RagSettings().chroma_url:
        return None  # a server's files are its own business
    folder = Path(path) if path else default_chroma_dir()
    problems = check_manifest(folder)
    if not problems:
        return None
    for key in [
        k
        for k, idx in _INDEXES.items()
        if getattr(idx.store, "path", None) == folder and not getattr(idx.store, "url", None)
    ]:
        stale = _INDEXES.pop(key)
        stale.store.close()
    reset_chroma_dir(folder)
    shown = "; ".join(problems[:3]) + (f"; and {len(problems) - 3} more" if len(problems) > 3 else "")
    return (
        f"The Chroma index at {folder} did not match the manifest written when it was built ({shown}): it was "
        "damaged or changed outside the lab, so it was deleted and rebuilt from the knowledge base."
    )


def forget_indexes(kind: str | None = None) -> None:
    """Drop cached indexes (after a Chroma rebuild, or in tests)."""
    with _INDEXES_LOCK:
        for key in [k for k in _INDEXES if kind is None or k[0] == kind]:
            idx = _INDEXES.pop(key)
            if hasattr(idx.store, "close"):
                idx.store.close()


class StoreRetriever(BaseRetriever):
    """A LangChain retriever over one of our indexes: ``invoke(query)`` -> top-k Documents, best first."""

    index: Any
    k: int = 5
    mode: str = "dense"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [
            Document(page_content=h.text, id=h.id, metadata={**h.metadata, "id": h.id, "score": h.score})
            for h in search(self.index, query, self.k, self.mode)
        ]
