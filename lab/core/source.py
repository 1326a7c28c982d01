"""The source code of a class or function, read once and shared: pages show the code they run.

    >>> from lab.core.errors import InputError
    >>> source_of(InputError).splitlines()[0]
    'class InputError(LabError, ValueError):'

``inspect.getsource`` re-reads and re-parses the whole module file on every call, and parsing is not safe across
threads on CPython 3.11.7: under ``make load`` two sessions rendering the Prompting page at once failed with
"SystemError: AST constructor recursion depth mismatch". So each source is read once, under one lock, and cached
(not ``lab.core.once``: its per-key locks would still let two different objects be parsed at the same time).
"""

from __future__ import annotations

import inspect
import threading

_LOCK = threading.Lock()
_CACHE: dict[object, str] = {}


def source_of(obj) -> str:
    """``inspect.getsource(obj)``, once per object per process (thread-safe)."""
    with _LOCK:
        if obj not in _CACHE:
            _CACHE[obj] = inspect.getsource(obj)
        return _CACHE[obj]
