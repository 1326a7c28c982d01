"""The managed ``llama-server`` process behind the ``local`` provider: one OpenAI-wire engine the app owns.

**ManagedServer** runs llama.cpp's own server (built once by :mod:`lab.gguf.build`, found through
:mod:`lab.core.llamacpp_build`) for the whole app process: model = the local GGUF, ``--parallel`` =
``LAB_LOCAL_CONCURRENCY`` sequences decoded together (continuous batching), each with ``LAB_N_CTX`` tokens of
context, on ``127.0.0.1`` only, behind a random API key (written to a 0600 file, never on the command line). It is
started lazily by the first request (thread-safe), health-checked (``GET /health``), restarted when it has died,
and stopped when the interpreter exits (``atexit``; it runs in its own process group, so nothing is left behind).

    >>> srv = managed_server()           # None when llama-server is not built
    >>> srv.ensure()                     # starts it (about 1 s for SmolLM2), or checks it is still alive
    'http://127.0.0.1:40123/v1'

The router over engines the deployment lists is :mod:`lab.llm.router`; it reuses ``http_status`` from here.
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
from pathlib import Path

from lab.core.errors import ProviderUnavailable

log = logging.getLogger(__name__)
HEALTH_TIMEOUT_S = 2.0


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


# Measured on 2 idle cores, SmolLM2 Q4_1. bench/engines.py (16 requests): --parallel 1 / 2 / 4 / 8 / 16 -> 44 / 69 /
# 103 / 111 / 109 tok/s in all, 44 / 36 / 28 / 19 / 8 tok/s per reply. bench/load.py (30 students, 200 s): --parallel
# 4 -> 86.9 tok/s, first token after 18.0 s (p50; 17.6 s of it in line, 3.8 of 4 slots busy); --parallel 8 ->
# 104.9 tok/s, 8.6 s. 8 takes all the throughput there is while a reply still streams faster than one reads (16
# adds nothing and halves each reply's speed); it is the server's default unless LAB_LOCAL_CONCURRENCY is set, and
# costs ~0.4 GB more than 4 (a context per slot).
SERVER_DEFAULT_CONCURRENCY = 8


def concurrency(engine: str) -> int:
    """Replies decoded at once per engine: LAB_LOCAL_CONCURRENCY when set, else 8 for llama-server / remote
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
        "--log-verbosity",
        "2",  # warnings and errors: at info it writes ~10 lines per reply, megabytes a class hour
        "--metrics",  # Prometheus counters on /metrics (behind the key): make load reads where a minute goes
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
        prune_logs(self.log_dir, keep=self._log_path)
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


LOG_MAX_BYTES = 5 * 2**20
LOG_MAX_AGE_S = 7 * 86400


def prune_logs(log_dir: Path, keep: Path) -> None:
    """Logs stay bounded on a long-lived deployment: other processes' logs older than a week go, and the log this
    process is about to append to starts over (its previous content kept as ``.1``) once it passes 5 MB."""
    now = time.time()
    for f in log_dir.glob("llama-server-*.log*"):
        try:
            if f != keep and now - f.stat().st_mtime > LOG_MAX_AGE_S:
                f.unlink()
        except OSError:
            pass
    try:
        if keep.stat().st_size > LOG_MAX_BYTES:
            keep.replace(keep.with_name(keep.name + ".1"))
    except OSError:
        pass


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
