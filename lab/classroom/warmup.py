"""Warm-up: load the heavy shared objects once, in the background, before the class needs them.

A fresh server loads nothing until a page asks. Then the first student to search the RAG lab waits for torch,
sentence-transformers and MiniLM (about 10 s on an idle 2-core machine), and when 30 students are already
chatting with the local model on the same cores, that first wait measured minutes. So the app starts this once
per process (``LAB_WARM_UP``, on by default), a few seconds after the first page is served - Home's first paint
is not slowed - and every step fills the same per-process caches the pages use:

    >>> w = WarmUp([("local model", lambda: time.sleep(1)), ("embedder", lambda: 1 / 0)])
    >>> w.start(delay_s=0); w.wait(); w.state()
    True
    {'local model': 'done in 1.0 s', 'embedder': 'failed: ZeroDivisionError: division by zero'}
    >>> w.start()            # once per process: a second call does nothing
    False

A step that fails is reported and skipped; the page that needs it later loads it itself and explains the error.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


def _local_model() -> None:
    from lab.llm.local import warm_up

    warm_up()   # the managed llama-server when that is the engine, else the model in-process


def _embedder() -> None:
    from lab.rag.embeddings import load_minilm

    load_minilm()


def _rag_indexes() -> None:
    from lab.rag.retrieval import get_index

    for kind in ("chroma", "faiss"):
        get_index(kind)


def _tokenizers() -> None:
    from lab.tokenization.registry import BUILTIN, get_tokenizer

    for name in BUILTIN:   # the Tokenization page shows all of them side by side by default
        get_tokenizer(name)


STEPS: list[tuple[str, Callable[[], object]]] = [
    ("tokenizers", _tokenizers), ("local model", _local_model), ("MiniLM embedder", _embedder),
    ("RAG indexes", _rag_indexes),
]


class WarmUp:
    def __init__(self, steps: list[tuple[str, Callable[[], object]]]) -> None:
        self.steps = steps
        self._state = {name: "waiting" for name, _ in steps}
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def start(self, delay_s: float = 3.0) -> bool:
        """Start the background loading; True the first time, False when it was already started."""
        with self._lock:
            if self._thread is not None:
                return False
            self._thread = threading.Thread(target=self._run, args=(delay_s,), name="lab-warm-up", daemon=True)
            self._thread.start()
            return True

    def _run(self, delay_s: float) -> None:
        time.sleep(delay_s)
        for name, step in self.steps:
            self._set(name, "running")
            t0 = time.perf_counter()
            try:
                step()
                self._set(name, f"done in {time.perf_counter() - t0:.1f} s")
            except Exception as e:  # a missing asset or a broken index: reported here, explained by its page
                self._set(name, f"failed: {type(e).__name__}: {e}")
                log.warning("warm-up step %s failed: %s", name, e)

    def _set(self, name: str, value: str) -> None:
        with self._lock:
            self._state[name] = value

    def state(self) -> dict[str, str]:
        with self._lock:
            return dict(self._state)

    def wait(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)


_PROCESS = WarmUp(STEPS)


def start(delay_s: float = 3.0) -> bool:
    """Warm this process's caches once (what the app calls on every page run; cheap after the first)."""
    return _PROCESS.start(delay_s)


def state() -> dict[str, str]:
    return _PROCESS.state()
