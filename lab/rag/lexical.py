"""Keyword search over the same chunks: BM25 (the ``bm25s`` library), the classic alternative to embeddings.

BM25 scores a chunk by the question's words it contains, weighting rare words (a product name, "$3,250") far
above common ones and damping long chunks. It finds exact names and numbers that a small embedding model blurs,
and misses paraphrases that share no word with the text - the opposite strengths of dense retrieval, which is
why the two are fused (``fusion.py``).

    >>> bm = BM25Index(["a#0", "b#0"], ["AquaLedger keeps records for 10 years.", "FlowSense valves cost $3,250."],
    ...                [{"source": "a.md"}, {"source": "b.md"}])
    >>> [h.id for h in bm.search("How long are records kept?", k=2)]
    ['a#0']

Words are lower-cased, split on anything that is not a letter or digit, stripped of English stop words and of
plural/verb endings by a tiny stemmer (``records`` -> ``record``, ``kept`` stays ``kept``), so questions and
chunks meet on the same forms. Scores are BM25's own (not cosines): only the ranking is comparable.
"""

from __future__ import annotations

import re
import threading

import numpy as np

from lab.core.errors import ProviderUnavailable

BM25_FIX = "BM25 needs the `bm25s` package: `.venv/bin/pip install bm25s` (it is in requirements.txt)."

STOPWORDS = frozenset(
    """a an and are as at be been but by can could did do does for from had has have how i if in
into is it its me my of on or our so than that the their them then there these they this to too was we were what
when where which who whom whose why will with would you your about also any each much many more most""".split()
)
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")


def stem(word: str) -> str:
    """A deliberately small suffix stripper: plurals, -ing, -ed, -ly (never below 3 letters).

    >>> [stem(w) for w in ["growers", "policies", "owned", "owns", "running", "quickly", "gas", "address"]]
    ['grower', 'policy', 'own', 'own', 'runn', 'quick', 'gas', 'address']
    """
    if len(word) <= 3 or word[-1].isdigit():
        return word
    for suffix, repl in (("ies", "y"), ("sses", "ss"), ("ing", ""), ("ed", ""), ("ly", ""), ("es", "e"), ("s", "")):
        if word.endswith(suffix) and not word.endswith("ss") and len(word) - len(suffix) + len(repl) >= 3:
            return word[: len(word) - len(suffix)] + repl
    return word


def tokenize(text: str) -> list[str]:
    """>>> tokenize("What does the AquaLedger Agency tier cost in 2025?")
    ['aqualedger', 'agency', 'tier', 'cost', '2025']
    """
    return [stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


class BM25Index:
    """BM25 over chunks, built in memory (milliseconds for the knowledge base). Thread-safe for queries."""

    def __init__(self, ids: list[str], texts: list[str], metadatas: list[dict]) -> None:
        try:
            import bm25s
        except ImportError as e:
            raise ProviderUnavailable(BM25_FIX) from e
        self.ids, self.texts, self.metadatas = list(ids), list(texts), [dict(m) for m in metadatas]
        self._bm25 = bm25s.BM25()
        self._lock = threading.Lock()
        if self.ids:
            self._bm25.index([tokenize(t) or ["_"] for t in self.texts], show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        words = [w for w in tokenize(query) if w in self._bm25.vocab_dict]
        if not words or not self.ids:
            return np.zeros(len(self.ids), np.float32)
        with self._lock:
            return np.asarray(self._bm25.get_scores(words), dtype=np.float32)

    def search(self, query: str, k: int = 5):
        """Top ``k`` chunks with a positive score, best first (a question sharing no word finds nothing)."""
        from lab.rag.stores import Hit

        s = self.scores(query)
        order = np.argsort(-s, kind="stable")[:k]
        return [Hit(self.ids[i], float(s[i]), self.texts[i], dict(self.metadatas[i])) for i in order if s[i] > 0]
