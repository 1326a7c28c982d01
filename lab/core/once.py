"""Build a heavy object once per process, per key, and share it: the one "load-and-cache" helper.

How it differs from ``functools.lru_cache``: two threads asking for the same key at the same time build it once
(the second waits for the first), a slow build of one key does not block the others (one lock per key), and a
build that raises is not remembered (fix the cause and ask again). Use it for things that are expensive to make
and safe to share once made (a tokenizer, a parsed config, an embedding model); a lock that guards *use* of an
object that is not thread-safe (one llama.cpp model, one sqlite writer) is a different thing and stays a lock.

    >>> calls = []
    >>> @once
    ... def square(n: int) -> int:
    ...     calls.append(n)
    ...     return n * n
    >>> square(3), square(3), square(4)
    (9, 9, 16)
    >>> calls                      # 3 was built once
    [3, 4]
    >>> 3 in square, 5 in square   # already built?  (never builds)
    (True, False)
    >>> square.cache_clear(); square(3); calls
    9
    [3, 4, 3]

A key function maps the arguments to the cache key, e.g. a file's (path, size, mtime) so an edited file is read
again: ``@once(key=lambda path: stamp(path))``. Without one the key is the positional and keyword arguments.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Generic, Hashable, TypeVar

T = TypeVar("T")


class Once(Generic[T]):
    """``build(*args, **kwargs)`` called at most once per key while it succeeds; thread-safe, per-key locks."""

    def __init__(self, build: Callable[..., T], key: Callable[..., Hashable] | None = None):
        self.build, self.key = build, key
        self._values: dict[Hashable, T] = {}
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the two dicts only, never held during a build
        functools.update_wrapper(self, build)

    def _key(self, args: tuple, kwargs: dict) -> Hashable:
        if self.key is not None:
            return self.key(*args, **kwargs)
        return args + tuple(sorted(kwargs.items())) if kwargs else args

    def __call__(self, *args: Any, **kwargs: Any) -> T:
        k = self._key(args, kwargs)
        try:
            return self._values[k]  # the fast path: a dict read is atomic in CPython
        except KeyError:
            pass
        with self._lock:
            lock = self._building.setdefault(k, threading.Lock())
        with lock:  # one build per key at a time; other keys build in parallel
            if k not in self._values:
                self._values[k] = self.build(*args, **kwargs)  # raises: nothing stored, the next call retries
            return self._values[k]

    def __contains__(self, key: Hashable) -> bool:
        """Whether ``key`` is built (a key as the cache sees it: the argument tuple, or what ``key=`` returns)."""
        return key in self._values or (key,) in self._values

    def keys(self) -> list[Hashable]:
        return list(self._values)

    def cache_clear(self) -> None:
        """Forget every built value (tests; or to reload after the files on disk changed)."""
        with self._lock:
            self._values.clear()
            self._building.clear()


def once(fn: Callable[..., T] | None = None, *, key: Callable[..., Hashable] | None = None):
    """Decorator form of :class:`Once`: ``@once`` or ``@once(key=...)``."""
    if fn is None:
        return lambda f: Once(f, key)
    return Once(fn, key)
