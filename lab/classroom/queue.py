"""A fair queue in front of the local model: a few generations at once, everyone else sees their place.

One llama.cpp model serves a whole classroom. Its lock already makes generations take turns; this queue adds
what a student needs to see - "you are 3rd in line, about 20 s" - and caps how many run at once
(``LAB_LOCAL_CONCURRENCY``). Tickets are served first come, first served; the estimate is the place in line
times the recent average time a generation holds its slot.

    >>> q = GenerationQueue(concurrency=1)
    >>> with q.slot():
    ...     q.waiting()
    0
    >>> q.estimate_s(3)            # doctest: +SKIP   (after turns of about 6 s each)
    18.0

``QueuedProvider`` stamps the wait on the reply's usage (``Usage.queue_s``), so a page can say how much of a slow
first token was the line and how much the model.

A student who leaves the line (reloads, clicks again: Streamlit stops the script by raising inside it, often
in the very ``on_wait`` call that shows the place in line) takes their ticket with them, or everyone behind it
would wait forever.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

from lab.llm.base import Chunk, Message, Options, Provider


class GenerationQueue:
    def __init__(self, concurrency: int = 1) -> None:
        self.concurrency = concurrency
        self._cond = threading.Condition()
        self._tickets = itertools.count()
        self._line: list[int] = []  # tickets waiting, in order of arrival
        self._running = 0
        self._avg_s: float | None = None  # moving average of how long a turn holds its slot

    def estimate_s(self, position: int) -> float | None:
        """Seconds until a ticket at ``position`` (1-based) starts, from recent turns; None before the first."""
        with self._cond:
            if self._avg_s is None:
                return None
            return math.ceil(position / self.concurrency) * self._avg_s

    def waiting(self) -> int:
        with self._cond:
            return len(self._line)

    @contextmanager
    def slot(self, on_wait: Callable[[int], None] | None = None, poll_s: float = 0.5) -> Iterator[None]:
        """Wait for a turn; ``on_wait(position)`` is told the 1-based place in line while waiting, then 0."""
        with self._cond:
            ticket = next(self._tickets)
            self._line.append(ticket)
            try:
                while not (self._running < self.concurrency and self._line[0] == ticket):
                    if on_wait:
                        on_wait(self._line.index(ticket) + 1)
                    self._cond.wait(timeout=poll_s)
            except BaseException:  # the student left the line: let the next one move up
                self._line.remove(ticket)
                self._cond.notify_all()
                raise
            self._line.pop(0)
            self._running += 1
            self._cond.notify_all()
        started = time.monotonic()
        try:
            if on_wait:
                on_wait(0)
            yield
        finally:
            with self._cond:
                self._running -= 1
                held = time.monotonic() - started
                self._avg_s = held if self._avg_s is None else 0.7 * self._avg_s + 0.3 * held
                self._cond.notify_all()


class QueuedProvider:
    """Wraps a provider so each generation first takes a slot in ``queue``."""

    def __init__(self, inner: Provider, queue: GenerationQueue, on_wait: Callable[[int], None] | None = None) -> None:
        self.inner, self.queue, self.on_wait = inner, queue, on_wait
        self.name, self.default_model = inner.name, inner.default_model

    def stream(
        self,
        messages: list[Message],
        *,
        model: str | None = None,
        options: Options | None = None,
        tools: list[dict] | None = None,
    ) -> Iterator[Chunk]:
        asked = time.monotonic()
        with self.queue.slot(self.on_wait):
            waited = time.monotonic() - asked
            for chunk in self.inner.stream(messages, model=model, options=options, tools=tools):
                if chunk.usage is not None:
                    chunk.usage.queue_s = round(waited, 3)
                yield chunk


_SHARED: GenerationQueue | None = None
_SHARED_LOCK = threading.Lock()


def shared_queue() -> GenerationQueue:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            from lab.llm.llama_server import concurrency
            from lab.llm.local import engine
            from lab.llm.router import base_urls

            # per engine: the managed llama-server decodes that many at once (--parallel, default 8, measured);
            # with LAB_LOCAL_BASE_URLS each listed engine takes that many; in-process, LAB_LOCAL_CONCURRENCY.
            _SHARED = GenerationQueue(concurrency(engine()) * max(1, len(base_urls())))
        return _SHARED
