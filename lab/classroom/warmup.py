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

The classroom layer knows no lab, so the steps are registered from above (the app does it in ``ui/warm.py``,
before ``start``); they run in the order they were registered:

    >>> register("tokenizers", load_tokenizers); register("local model", load_local_model)
    >>> [name for name, _ in steps()]
    ['tokenizers', 'local model']
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Callable

log = logging.getLogger(__name__)


Step = Callable[[], object]
_STEPS: dict[str, Step] = {}  # name -> step, in registration order (what the process warm-up runs)
_REGISTRY_LOCK = threading.Lock()


def register(name: str, step: Step) -> None:
    """Add ``step`` to this process's warm-up under ``name``; registering a name again replaces its step in place
    (so the app can register on every page run). Steps registered after ``start`` wait for the next process."""
    with _REGISTRY_LOCK:
        _STEPS[name] = step


def steps() -> list[tuple[str, Step]]:
    """The registered steps, in the order they were first registered."""
    with _REGISTRY_LOCK:
        return list(_STEPS.items())


class WarmUp:
    def __init__(self, steps: list[tuple[str, Step]]) -> None:
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


_PROCESS: WarmUp | None = None  # made by the first ``start``, from the steps registered by then


def start(delay_s: float = 3.0) -> bool:
    """Warm this process's caches once with the registered steps (what the app calls on every page run; cheap
    after the first). True the first time, False when this process already started."""
    global _PROCESS
    with _REGISTRY_LOCK:
        if _PROCESS is None:
            _PROCESS = WarmUp(list(_STEPS.items()))
        process = _PROCESS
    return process.start(delay_s)


def state() -> dict[str, str]:
    """Each step's progress: 'waiting', 'running', 'done in 1.2 s' or 'failed: ...' (before ``start``: the
    registered steps, all waiting)."""
    with _REGISTRY_LOCK:
        process = _PROCESS
        if process is None:
            return {name: "waiting" for name in _STEPS}
    return process.state()
