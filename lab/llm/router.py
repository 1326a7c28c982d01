"""A router over OpenAI-compatible engines the deployment lists (``LAB_LOCAL_BASE_URLS``): least-busy, with retry.

**Router** spreads requests over several engines (llama-server, vLLM, Ollama's ``/v1``) by least-busy: the engine
with the fewest requests in flight from this process; an engine that fails a request or a health check is skipped
for ``RETRY_S`` seconds, then tried again. These addresses come from the deployment's own configuration, so they
are trusted (loopback and private addresses allowed), unlike a base URL typed in a page:

    >>> a = Engine("http://10.0.0.5:8080/v1", health=lambda: True)
    >>> b = Engine("http://10.0.0.6:8080/v1", health=lambda: True)
    >>> r = Router([a, b])
    >>> first, second = r.acquire(), r.acquire()      # one busy: the other is chosen
    >>> first is a, second is b
    (True, True)
    >>> r.release(first); r.acquire() is a            # a is free again, b still busy
    True

``shared_router()`` builds one per process from the settings (``None`` when no URLs are set).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from lab.core.errors import ProviderUnavailable
from lab.llm.llama_server import http_status

RETRY_S = 15.0


@dataclass
class Engine:
    base_url: str
    api_key: str = "not-needed"
    in_flight: int = 0
    down_until: float = 0.0
    served: int = 0
    failures: int = 0
    model: str | None = None
    health: Callable[[], bool] | None = field(default=None, repr=False)

    def check(self) -> bool:
        if self.health is not None:
            return self.health()
        root = self.base_url.rstrip("/")
        root = root[:-3] if root.endswith("/v1") else root
        # /health answers on llama-server and vLLM; every OpenAI-compatible server lists /v1/models
        if http_status(root + "/health") == 200:
            return True
        return (
            http_status(self.base_url.rstrip("/") + "/models", headers={"Authorization": f"Bearer {self.api_key}"})
            == 200
        )


class Router:
    """Least-busy routing over OpenAI-compatible engines, skipping ones that failed recently."""

    def __init__(self, engines: list[Engine], retry_s: float = RETRY_S) -> None:
        if not engines:
            raise ValueError("Router needs at least one engine")
        self.engines = engines
        self.retry_s = retry_s
        self._lock = threading.Lock()

    def acquire(self) -> Engine:
        """The up engine with the fewest requests in flight (ties: fewest served); counts the request in."""
        now = time.monotonic()
        with self._lock:
            up = [e for e in self.engines if e.down_until <= now]
        # one that was marked down is rechecked (outside the lock) before it is used again
        candidates = up or self.engines
        candidates = sorted(candidates, key=lambda e: (e.in_flight, e.served))
        for e in candidates:
            if e.failures and not e.check():
                self.mark_down(e)
                continue
            with self._lock:
                e.in_flight += 1
                e.served += 1
            return e
        raise ProviderUnavailable(
            "No local engine answers: "
            + ", ".join(e.base_url for e in self.engines)
            + " (LAB_LOCAL_BASE_URLS). Check that they are running."
        )

    def release(self, e: Engine, ok: bool = True) -> None:
        with self._lock:
            e.in_flight = max(0, e.in_flight - 1)
            if ok:
                e.failures = 0
        if not ok:
            self.mark_down(e)

    def mark_down(self, e: Engine) -> None:
        with self._lock:
            e.failures += 1
            e.down_until = time.monotonic() + self.retry_s

    def status(self) -> list[dict]:
        now = time.monotonic()
        return [
            {"base_url": e.base_url, "in_flight": e.in_flight, "served": e.served, "up": e.down_until <= now}
            for e in self.engines
        ]


_ROUTER: tuple[str, Router] | None = None
_ROUTER_LOCK = threading.Lock()


def base_urls() -> list[str]:
    from lab.core.settings import get_settings

    raw = get_settings().local_base_urls or ""
    return [u.strip().rstrip("/") for u in raw.split(",") if u.strip()]


def shared_router() -> Router | None:
    """The process-wide router over ``LAB_LOCAL_BASE_URLS``; None when that is not set."""
    global _ROUTER
    urls = base_urls()
    if not urls:
        return None
    from lab.core.settings import get_settings

    key = ",".join(urls)
    with _ROUTER_LOCK:
        if _ROUTER is None or _ROUTER[0] != key:
            api_key = get_settings().local_api_key or "not-needed"
            _ROUTER = (key, Router([Engine(u, api_key) for u in urls]))
        return _ROUTER[1]
