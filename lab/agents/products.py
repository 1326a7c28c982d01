"""The course's "products" vector store, built without LangChain: a raw ``chromadb`` collection.

Each priced product of the Pricer lab's data becomes one record: id, document (the curated text), a MiniLM
vector (384 floats, the Pricer lab's cached embedder) and metadata ``{"price", "category", "title"}``. The
frontier agent asks it for the 5 products nearest a deal and shows their prices to its model:

    >>> store = ProductStore()                    # <data_dir>/agents/products, collection "products"
    >>> store.build(items)                        # doctest: +SKIP
    219
    >>> [round(s.price) for s in store.similar("Sony noise cancelling headphones", k=2)]   # doctest: +SKIP
    [348, 279]

Chroma stores cosine *distance* in its HNSW index (``{"hnsw:space": "cosine"}``); ``similar`` turns it back into
similarity. The store is shared by every session (public data, built once); a fingerprint of the items in a JSON
file beside it says whether it must be rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLLECTION = "products"
_LOCK = threading.Lock()


@dataclass
class Similar:
    text: str
    price: float
    category: str
    title: str
    score: float


def default_dir() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "agents" / "products"


def fingerprint(items) -> str:
    h = hashlib.sha256()
    for it in items:
        h.update(f"{it.text}\0{it.price}\0{it.category}\n".encode())
    return h.hexdigest()[:16]


class ProductStore:
    def __init__(self, path: Path | str | None = None) -> None:
        import chromadb
        from chromadb.config import Settings

        self.path = Path(path) if path else default_dir()
        self.path.mkdir(parents=True, exist_ok=True)
        self.client = chromadb.PersistentClient(path=str(self.path), settings=Settings(anonymized_telemetry=False))
        self.collection = self.client.get_or_create_collection(COLLECTION, metadata={"hnsw:space": "cosine"})

    def _meta_path(self) -> Path:
        return self.path / "fingerprint.json"

    def count(self) -> int:
        return self.collection.count()

    def build(self, items) -> int:
        """Make the collection hold exactly ``items`` (skipped when it already does); returns the count."""
        from lab.pricer.baselines import embed

        fp = fingerprint(items)
        with _LOCK:
            try:
                same = json.loads(self._meta_path().read_text()).get("fingerprint") == fp
            except (OSError, ValueError):
                same = False
            if same and self.collection.count() == len(items):
                return len(items)
            self.client.delete_collection(COLLECTION)
            self.collection = self.client.get_or_create_collection(COLLECTION, metadata={"hnsw:space": "cosine"})
            vectors = embed([it.text for it in items])
            for start in range(0, len(items), 500):
                batch = items[start : start + 500]
                self.collection.add(
                    ids=[f"p{start + i}" for i in range(len(batch))],
                    documents=[it.text for it in batch],
                    embeddings=vectors[start : start + len(batch)].astype(float).tolist(),
                    metadatas=[
                        {"price": float(it.price), "category": it.category or "none", "title": it.title[:200]}
                        for it in batch
                    ],
                )
            self._meta_path().write_text(json.dumps({"fingerprint": fp, "count": len(items)}))
            return len(items)

    def similar(self, description: str, k: int = 5) -> list[Similar]:
        from lab.pricer.baselines import embed

        vec = embed([description])[0]
        got = self.collection.query(
            query_embeddings=[vec.astype(float).tolist()], n_results=k, include=["documents", "metadatas", "distances"]
        )
        return [
            Similar(doc, float(m["price"]), m.get("category", ""), m.get("title", ""), 1.0 - float(dist))
            for doc, m, dist in zip(got["documents"][0], got["metadatas"][0], got["distances"][0])
        ]

    def all(self, limit: int = 2000) -> tuple[np.ndarray, list[str], list[dict]]:
        """(vectors, documents, metadatas) of up to ``limit`` products: what the page plots."""
        got = self.collection.get(include=["embeddings", "documents", "metadatas"], limit=limit)
        return np.asarray(got["embeddings"], dtype=np.float32), list(got["documents"]), list(got["metadatas"])


_STORES: dict[str, ProductStore] = {}


def get_store(path: Path | str | None = None) -> ProductStore:
    """One store object per folder per process (chromadb keeps one system per path anyway)."""
    key = str(Path(path) if path else default_dir())
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = ProductStore(key)
        return _STORES[key]


def ready_store() -> ProductStore:
    """The shared store, built from the Pricer's data (the members' training items) if it is still empty."""
    store = get_store()
    if store.count() == 0:
        from lab.agents.ensemble import splits

        store.build(splits()[0])
    return store


def projection(store: ProductStore, deals: list[tuple[str, str]] | None = None, dims: int = 3, limit: int = 2000):
    """Product vectors in ``dims`` dimensions (PCA) with scanned deals placed in the same space.

    Returns (points, metadatas, documents, deal_points, deal_labels). PCA, not the course's t-SNE: t-SNE cannot
    place a new point in an existing map, PCA projects deals exactly where the products' axes put them."""
    from sklearn.decomposition import PCA

    from lab.pricer.baselines import embed

    vectors, docs, metas = store.all(limit)
    if len(vectors) <= dims:
        from lab.core.errors import InputError

        raise InputError("The products store is empty: run a cycle (or `python -m lab agents fit`) to build it.")
    pca = PCA(n_components=dims, random_state=42).fit(vectors)
    deal_points = pca.transform(embed([text for _, text in deals])) if deals else np.zeros((0, dims))
    return pca.transform(vectors), metas, docs, deal_points, [label for label, _ in (deals or [])]
