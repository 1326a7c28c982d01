"""What *best* builds beside the vector store, once per index: other views of the same chunks, and what a question
names. ``modes.py`` fuses them; each view is cached per BM25 index (same chunks) and embedder, and dropped with it.

    DocCards      one vector per document, its title and section headings ("AquaLedger: Key facts; Tiers ...")
    ChunkVectors  the chunks embedded by a second model (MiniLM beside e5), searched exactly
    LineVectors   every line of every chunk embedded apart; a chunk ranks by its closest line
    titles        each document's title as a question would name it ("lucia marin", "wide bay tomato co")

A worked example: the three lines below are embedded apart, so the question's nearest *line* decides, and a year in
the question keeps only lines that contain it:

    >>> lines_of("## Awards\\n- **Customer Champion Award, 2022** - for round-the-clock support\\n|---|---|")
    ['Customer Champion Award, 2022 - for round-the-clock support']
    >>> years_in("Who got the Customer Champion Award in 2022?")
    ['2022']
"""

from __future__ import annotations

import re
import threading
import unicodedata
import weakref
from dataclasses import dataclass

import numpy as np

_YEAR = re.compile(r"\b(?:19[5-9]\d|20\d\d)\b")


@dataclass
class DocCards:
    """One vector per document, for document-level ranking: its title and section headings as one passage."""

    sources: list[str]
    texts: list[str]
    vectors: np.ndarray

    def ranks(self, query_vector) -> dict[str, int]:
        """source -> 1-based rank of its card for this query vector (cosine, best first)."""
        order = np.argsort(-(self.vectors @ np.asarray(query_vector, dtype=np.float32)), kind="stable")
        return {self.sources[j]: r for r, j in enumerate(order, 1)}


def card_texts(metadatas: list[dict], texts: list[str] | None = None) -> dict[str, str]:
    """source -> 'Title: section; section; ...' from the chunks' heading paths and the markdown headings inside
    the chunks' texts (a chunk spanning two sections names only the first in its path), in the document's order.

    >>> card_texts([{"source": "a.md", "chunk": 1, "headings": "AquaLedger > Tiers and pricing (2025)"},
    ...             {"source": "a.md", "chunk": 0, "headings": "AquaLedger > Key facts"}],
    ...            ["| Tier | Price |", "## Key facts\\n- Owner: ...\\n## Customers\\n..."])
    {'a.md': 'AquaLedger: Key facts; Customers; Tiers and pricing (2025)'}
    """
    from lab.rag.chunking import headings

    texts = list(texts) if texts is not None else [""] * len(metadatas)
    parts: dict[str, dict[str, None]] = {}
    for m, text in sorted(zip(metadatas, texts), key=lambda mt: (mt[0].get("source", ""), int(mt[0].get("chunk", 0)))):
        names = parts.setdefault(m.get("source", ""), {})
        path = str(m.get("headings") or m.get("title") or "").split(" > ")
        for h in path + [title for _, _, title in headings(text or "")]:
            if h.strip():
                names[h.strip()] = None
    out = {}
    for src, names in parts.items():
        heads = list(names)
        out[src] = (heads[0] + (": " + "; ".join(heads[1:]) if len(heads) > 1 else "")) if heads else src
    return out


def doc_cards(metadatas: list[dict], embedder, texts: list[str] | None = None) -> DocCards:
    """Embed one card per document (as passages; a cached embedder makes a rebuild free)."""
    cards = card_texts(metadatas, texts)
    sources = sorted(cards)
    texts = [cards[s] for s in sources]
    return DocCards(sources, texts, embedder.embed(texts))


@dataclass
class ChunkVectors:
    """A second embedder's vectors of the same chunks, searched exactly (a few hundred rows: one matrix product)."""

    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    vectors: np.ndarray

    def search(self, query_vector, k: int) -> list:
        from lab.rag.stores import Hit

        scores = self.vectors @ np.asarray(query_vector, dtype=np.float32)
        order = np.argsort(-scores, kind="stable")[:k]
        return [Hit(self.ids[j], float(scores[j]), self.texts[j], dict(self.metadatas[j])) for j in order]


def lines_of(text: str, min_chars: int = 12) -> list[str]:
    """The lines of a chunk worth embedding on their own: markdown marks stripped, short ones (headings like
    "## Awards", a table's "|---|") dropped (the module's example)."""
    out = []
    for line in text.splitlines():
        s = line.replace("**", "").strip().strip("#-*| ").strip()
        if len(s) >= min_chars:
            out.append(s)
    return out


def years_in(question: str) -> list[str]:
    """The years a question names (1950-2099), in order, once each.

    >>> years_in("Who won in 2022, and who in 1998? Not 2022 again, nor 12022.")
    ['2022', '1998']
    """
    return list(dict.fromkeys(_YEAR.findall(question)))


def _plain(text: str) -> str:
    """Lower case, accents and punctuation gone: 'Lucía Marín' -> 'lucia marin', 'Wide Bay Tomato Co.' -> 'wide
    bay tomato co'."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.findall(r"[a-z0-9]+", text))


def doc_titles(metadatas: list[dict]) -> dict[str, str]:
    """source -> its title as a question would name it (``_plain``, a leading "Contract with" dropped)."""
    out = {}
    for m in metadatas:
        title = _plain(re.sub(r"^\s*contract with\s+", "", str(m.get("title") or ""), flags=re.I))
        if len(title) >= 4:
            out.setdefault(m.get("source", ""), title)
    return out


def named_sources(question: str, titles: dict[str, str]) -> dict[str, int]:
    """The documents whose title the question names, as ``{source: 1}`` (a document prior for ``add_doc_prior``).

    >>> titles = doc_titles([{"source": "p/aqualedger.md", "title": "AquaLedger"},
    ...                      {"source": "c/tulare.md", "title": "Contract with Tulare Ridge Water Agency"},
    ...                      {"source": "e/lucia.md", "title": "Lucía Marín"}])
    >>> titles["c/tulare.md"], titles["e/lucia.md"]
    ('tulare ridge water agency', 'lucia marin')
    >>> named_sources("What does the AquaLedger Agency tier cost?", titles)
    {'p/aqualedger.md': 1}
    >>> named_sources("Which contracts does Lucia Marin manage for Tulare Ridge Water Agency?", titles)
    {'c/tulare.md': 1, 'e/lucia.md': 1}
    >>> named_sources("What does an aqualedgers subscription cost?", titles)   # whole words only
    {}
    """
    q = f" {_plain(question)} "
    return {src: 1 for src, title in titles.items() if f" {title} " in q}


@dataclass
class LineVectors:
    """Every line of the chunks (``lines_of``) embedded apart; a chunk ranks by its closest line."""

    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    owner: np.ndarray  # for each line, the index of its chunk
    lines: list[str]
    vectors: np.ndarray

    @classmethod
    def build(cls, ids, texts, metadatas, embedder) -> "LineVectors":
        owner, lines = [], []
        for j, text in enumerate(texts):
            for line in lines_of(text):
                owner.append(j)
                lines.append(line)
        vectors = np.asarray(embedder.embed(lines), np.float32) if lines else np.zeros((0, 1), np.float32)
        return cls(list(ids), list(texts), list(metadatas), np.asarray(owner, dtype=np.int64), lines, vectors)

    def search(self, query_vector, k: int, must: list[str] | tuple = ()) -> list:
        """Top ``k`` chunks by their best line's cosine. Lines lacking any string in ``must`` (a year) rank below
        every line that has them all (cosines lie in [-1, 1], so 2 apart), unless no line has them."""
        from lab.rag.stores import Hit

        if not self.lines:
            return []
        scores = self.vectors @ np.asarray(query_vector, dtype=np.float32)
        if must:
            keep = np.fromiter((all(m in line for m in must) for line in self.lines), bool, len(self.lines))
            if keep.any():
                scores = np.where(keep, scores, scores - 2.0)
        best = np.full(len(self.ids), -np.inf, dtype=np.float32)
        np.maximum.at(best, self.owner, scores)
        order = [j for j in np.argsort(-best, kind="stable")[:k] if np.isfinite(best[j])]
        return [Hit(self.ids[j], float(best[j]), self.texts[j], dict(self.metadatas[j])) for j in order]


# BM25 index -> {(view, embedder name): DocCards | ChunkVectors | LineVectors | titles}; dropped with the index
_VIEWS: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()
_VIEWS_LOCK = threading.Lock()


def _cached(bm25, key: tuple, build):
    """``build()`` once per BM25 index and key."""
    with _VIEWS_LOCK:
        per = _VIEWS.setdefault(bm25, {})
        if key not in per:
            per[key] = build()
        return per[key]


def _view(bm25, embedder, kind: str, build):
    if embedder is None or bm25 is None or not getattr(bm25, "metadatas", None):
        return None
    return _cached(bm25, (kind, embedder.name), build)


def cards_for(bm25, embedder) -> DocCards | None:
    """The document cards of the chunks behind this BM25 index (same chunks as the store), built once per index
    and embedder; None when there is no embedder or nothing to card."""
    return _view(bm25, embedder, "cards", lambda: doc_cards(bm25.metadatas, embedder, getattr(bm25, "texts", None)))


def chunk_vectors(bm25, embedder) -> ChunkVectors | None:
    """The chunks behind this BM25 index embedded (as passages) by ``embedder``, once per index and embedder."""
    return _view(
        bm25,
        embedder,
        "chunks",
        lambda: ChunkVectors(bm25.ids, bm25.texts, bm25.metadatas, np.asarray(embedder.embed(bm25.texts), np.float32)),
    )


def titles_for(bm25) -> dict[str, str]:
    """``doc_titles`` of the chunks behind this BM25 index, once per index."""
    return _cached(bm25, ("titles", ""), lambda: doc_titles(getattr(bm25, "metadatas", None) or []))


def line_vectors(bm25, embedder) -> LineVectors | None:
    """The lines of the chunks behind this BM25 index embedded (as passages) by ``embedder``, once per index."""
    return _view(bm25, embedder, "lines", lambda: LineVectors.build(bm25.ids, bm25.texts, bm25.metadatas, embedder))
