"""Engines behind the ``local`` provider that speak the OpenAI wire format: a managed ``llama-server`` process,
and a router over engines the deployment lists (``LAB_LOCAL_BASE_URLS``).

**ManagedServer** runs llama.cpp's own server (built once by :mod:`lab.gguf.build`, found through
:mod:`lab.core.llamacpp_build`) for the whole app process: model = the local GGUF, ``--parallel`` =
``LAB_LOCAL_CONCURRENCY`` sequences decoded together (continuous batching), each with ``LAB_N_CTX`` tokens of
context, on ``127.0.0.1`` only, behind a random API key (written to a 0600 file, never on the command line). It is
started lazily by the first request (thread-safe), health-checked (``GET /health``), restarted when it has died,
and stopped when the interpreter exits (``atexit``; it runs in its own process group, so nothing is left behind).

    >>> srv = managed_server()           # None when llama-server is not built
    >>> srv.ensure()                     # starts it (about 1 s for SmolLM2), or checks it is still alive
    'http://127.0.0.1:40123/v1'

**Router** spreads requests over several OpenAI-compatible engines (llama-server, vLLM, Ollama's ``/v1``) by
least-busy: the engine with the fewest requests in flight from this process; an engine that fails a request or a
health check is skipped for ``RETRY_S`` seconds, then tried again. These addresses come from the deployment's own
configuration, so they are trusted (loopback and private addresses allowed), unlike a base URL typed in a page.
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.core.errors import ProviderUnavailable

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 2.0
RETRY_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_status(url: str, timeout: float = HEALTH_TIMEOUT_S, headers: dict | None = None) -> int | None:
    """The HTTP status of ``GET url``, or None when nothing answered."""
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=timeout) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (OSError, ValueError):
        return None


# Measured on 2 cores (bench/engines.py, SmolLM2 Q4_1): 46 / 61 / 83 / 87 tok/s for the class at --parallel
# 1 / 2 / 4 / 8, 48 / 32 / 22 / 12 tok/s per reply. 4 takes most of the gain while a reply still streams faster than
# one reads; it is the server's default unless LAB_LOCAL_CONCURRENCY is set.
SERVER_DEFAULT_CONCURRENCY = 4


def concurrency(engine: str) -> int:
    """Replies decoded at once per engine: LAB_LOCAL_CONCURRENCY when set, else 4 for llama-server / remote
    engines (batching) and the setting's default for the in-process path (one at a time behind its lock)."""
    from lab.core.settings import get_settings

    s = get_settings()
    if "local_concurrency" in s.model_fields_set or engine == "inprocess":
        return s.local_concurrency
    return SERVER_DEFAULT_CONCURRENCY


def server_args(model: Path | str, *, parallel: int, n_ctx: int, threads: int, cache_ram_mib: int = 256) -> list[str]:
    """llama-server's arguments (without host, port and key, which ManagedServer adds)."""
    return [
        "-m",
        str(model),
        "--parallel",
        str(parallel),
        "--cont-batching",
        "--ctx-size",
        str(n_ctx * parallel),
        "--no-kv-unified",  # each slot gets exactly n_ctx tokens, as in-process
        "--threads",
        str(threads),
        "--threads-batch",
        str(threads),
        "--cache-ram",
        str(cache_ram_mib),  # the prompt cache would otherwise grow to 8 GB
        "--no-ui",
        "--alias",
        Path(model).name,
    ]


class ManagedServer:
    """One supervised server process. ``command`` is the program and its own arguments; ManagedServer appends
    ``--host 127.0.0.1 --port P --api-key-file F`` (tests pass a small Python script that speaks the same)."""

    def __init__(
        self,
        command: list[str],
        *,
        startup_timeout_s: float = 120.0,
        log_dir: Path | None = None,
        max_restarts_per_min: int = 3,
    ) -> None:
        self.command = list(command)
        self.startup_timeout_s = startup_timeout_s
        self.log_dir = Path(log_dir or tempfile.gettempdir())
        self.max_restarts_per_min = max_restarts_per_min
        self.api_key = secrets.token_urlsafe(24)
        self.port: int | None = None
        self.proc: subprocess.Popen | None = None
        self.starts: list[float] = []  # monotonic start times (restarts = len - 1)
        self._lock = threading.Lock()
        self._key_file: Path | None = None
        self._log_path: Path | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.root_url + "/v1"

    @property
    def restarts(self) -> int:
        return max(0, len(self.starts) - 1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def healthy(self) -> bool:
        return self.alive() and http_status(self.root_url + "/health") == 200

    def ensure(self) -> str:
        """Start the server if it is not running (first call, or it died); return its ``/v1`` base URL."""
        with self._lock:
            if self.alive():
                return self.base_url
            if self.proc is not None:
                log.warning("llama-server (pid %s) exited with %s; restarting", self.proc.pid, self.proc.returncode)
            recent = [t for t in self.starts if time.monotonic() - t < 60]
            if len(recent) > self.max_restarts_per_min:
                raise ProviderUnavailable(f"llama-server died {len(recent)} times in a minute; see {self._log_path}.")
            self._start()
            return self.base_url

    def _start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._key_file is not None:  # the previous (dead) process's key file
            self._key_file.unlink(missing_ok=True)
        fd, key_path = tempfile.mkstemp(prefix="llama-server-key-", dir=self.log_dir)
        with os.fdopen(fd, "w") as f:  # mkstemp: 0600, readable by this user only
            f.write(self.api_key)
        self._key_file = Path(key_path)
        self.port = free_port()
        self._log_path = self.log_dir / f"llama-server-{os.getpid()}.log"
        logf = open(self._log_path, "ab")
        cmd = self.command + ["--host", "127.0.0.1", "--port", str(self.port), "--api-key-file", key_path]
        self.starts.append(time.monotonic())
        self.proc = subprocess.Popen(
            cmd, stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
        )  # its own process group: stop() ends all of it
        logf.close()
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ProviderUnavailable(f"llama-server exited at start ({self.proc.returncode}): {self.log_tail()}")
            if http_status(self.root_url + "/health", timeout=1.0) == 200:
                log.info("llama-server ready on %s (pid %s)", self.root_url, self.proc.pid)
                return
            time.sleep(0.1)
        self._kill()
        raise ProviderUnavailable(
            f"llama-server did not become healthy in {self.startup_timeout_s:.0f} s: {self.log_tail()}"
        )

    def log_tail(self, n: int = 3) -> str:
        try:
            lines = [ln for ln in self._log_path.read_text(errors="replace").splitlines() if ln.strip()]
        except (OSError, AttributeError):
            return ""
        return " | ".join(lines[-n:])[-400:]

    def _kill(self) -> None:
        p = self.proc
        if p is not None and p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGTERM)
                p.wait(timeout=5)
            except (ProcessLookupError, PermissionError):
                pass
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=5)
        if self._key_file is not None:
            self._key_file.unlink(missing_ok=True)

    def stop(self) -> None:
        with self._lock:
            self._kill()

    def status(self) -> dict:
        return {
            "running": self.alive(),
            "pid": self.proc.pid if self.alive() else None,
            "base_url": self.base_url if self.port else None,
            "restarts": self.restarts,
            "log": str(self._log_path) if self._log_path else None,
        }


_SERVERS: dict[tuple, ManagedServer] = {}
_SERVERS_LOCK = threading.Lock()


@atexit.register
def stop_all() -> None:
    for s in list(_SERVERS.values()):
        s.stop()


def managed_server(model: Path | str | None = None) -> ManagedServer | None:
    """The process-wide llama-server for ``model`` (default: the local model), or None when it is not built."""
    from lab.core.llamacpp_build import server_binary
    from lab.core.settings import get_settings
    from lab.llm.local import default_model_path

    binary = server_binary()
    if binary is None:
        return None
    s = get_settings()
    model = Path(model) if model else default_model_path()
    threads = s.n_threads or max(1, os.cpu_count() or 1)
    par = concurrency("server")
    key = (str(binary), str(model), par, s.n_ctx, threads)
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            args = server_args(model, parallel=par, n_ctx=s.n_ctx, threads=threads)
            _SERVERS[key] = ManagedServer([str(binary), *args], log_dir=s.data_dir / "llama-server")
        return _SERVERS[key]


# ---------------------------------------------------------------------------------------------- router
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
