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

from lab.llm.base import InputError
from lab.rag.chunking import ChunkOptions
from lab.rag.stores import STORES, ChromaStore, FaissStore, Hit, SyncReport, VectorStore, sync

# MiniLM reads ~256 word pieces (about 1,000 characters) and silently drops the rest; a question longer than
# this is almost certainly a pasted document, and retrieving with its first paragraph only would mislead.
MAX_QUERY_CHARS = 2000


def check_query(query: str) -> str:
    if not isinstance(query, str) or not query.strip():
        raise InputError("The question is empty: type what you want to find in the knowledge base.")
    if len(query) > MAX_QUERY_CHARS:
        raise InputError(f"The question is {len(query):,} characters; retrieval accepts up to {MAX_QUERY_CHARS:,} "
                         "(the embedding model reads only ~1,000). Ask a shorter question.")
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

    @property
    def name(self) -> str:
        return self.store.name

    def refresh(self, docs=None) -> SyncReport:
        """Re-read the knowledge base and re-embed only what changed (safe while others query)."""
        from lab.rag.loading import load_documents

        with self.lock:
            t0 = time.perf_counter()
            self.report = sync(self.store, docs if docs is not None else load_documents(), self.embedder, self.options)
            self.built_s = time.perf_counter() - t0
            return self.report


def embed_query(embedder, query: str):
    """Queries skip the embedding cache (a cache of every question ever asked would only grow)."""
    return getattr(embedder, "inner", embedder).embed([check_query(query)])[0]


def search(index: Index, query: str, k: int = 5) -> list[Hit]:
    """Top ``k`` chunks for ``query``, best first."""
    return index.store.query(embed_query(index.embedder, query), k)


def make_store(kind: str, dim: int, collection: str, **kw) -> VectorStore:
    if kind == "faiss":
        return FaissStore(dim)
    if kind == "chroma":
        return ChromaStore(collection, dim, path=kw.get("path"), url=kw.get("url"))
    raise InputError(f"Unknown store {kind!r}; choose one of: {', '.join(STORES)}.")


def collection_name(embedder_name: str, options: ChunkOptions) -> str:
    """Chroma needs 3-512 characters of [a-zA-Z0-9._-]: 'kb-minilm-recursive-700-150-t'."""
    return f"kb-{embedder_name}-{options.tag()}"


_INDEXES: dict[tuple, Index] = {}
_INDEXES_LOCK = threading.Lock()


def get_index(kind: str = "faiss", options: ChunkOptions | None = None, embedder=None, *, path=None,
              url=None, refresh: bool = False) -> Index:
    """The shared index for this configuration, built on first use; ``refresh=True`` re-syncs it with the
    knowledge base (only changed files are re-embedded)."""
    from lab.rag.embeddings import get_embedder

    options = options or ChunkOptions()
    embedder = embedder or get_embedder("minilm", cache=True)
    key = (kind, embedder.name, options.tag(), str(path), url)
    with _INDEXES_LOCK:
        index = _INDEXES.get(key)
        if index is None:
            store = make_store(kind, embedder.dim, collection_name(embedder.name, options), path=path, url=url)
            index = Index(store, embedder, options)
            _INDEXES[key] = index
            fresh = True
        else:
            fresh = False
    if fresh or refresh:
        try:
            index.refresh()
        except Exception:
            with _INDEXES_LOCK:   # do not keep a half-built index around for the next caller
                _INDEXES.pop(key, None)
            raise
    elif index.report is None:   # another thread is building it right now: wait for that build
        with index.lock:
            pass
    return index


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

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return [Document(page_content=h.text, id=h.id, metadata={**h.metadata, "id": h.id, "score": h.score})
                for h in search(self.index, query, self.k)]
