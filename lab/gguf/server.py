"""Serve a GGUF on an OpenAI-compatible endpoint with llama-cpp-python's own server (FastAPI + uvicorn).

Once it runs, anything that speaks the OpenAI API can use the model by base URL - the ``openai`` client, the
lab's ``openai-compatible`` provider, the Prompting / Tools / RAG labs:

    >>> handle = start(port=8080)                      # a subprocess: `python -m lab gguf serve --port 8080`
    >>> handle.base_url
    'http://127.0.0.1:8080/v1'
    >>> from lab.llm import get_provider, run
    >>> run(get_provider("openai-compatible", base_url=handle.base_url),
    ...     [{"role": "user", "content": "Capital of France?"}]).text
    'The capital of France is Paris.'
    >>> stop(handle)

``serve()`` runs the server in this process until stopped (the CLI); ``start()`` launches that CLI as a child
process and waits until ``GET /v1/models`` answers, so the app never blocks and a crash of llama.cpp cannot take
the app down. The server app keeps its model in module globals, one per process: one more reason for a process.

Each server holds its own copy of the model, so at most ``LAB_MAX_SERVERS`` (default 2) run at once on the
machine. A handle may carry an ``owner`` tag (the app passes the browser session's id): ``running(owner=...)``
lists and ``stop(..., owner=...)`` stops only that owner's servers, so one student cannot stop another's.
"""

from __future__ import annotations

import atexit
import ipaddress
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from lab.core.errors import InputError, ProviderUnavailable
from lab.core.settings import REPO_ROOT, get_settings

DEFAULT_PORT = 8080


API_KEY_ENV = "LAB_GGUF_API_KEY"  # how start() hands a key to its child: never on the command line (`ps` shows that)
MIN_API_KEY_CHARS = 12


def is_loopback(host: str) -> bool:
    """Whether ``host`` listens on this machine only.

    >>> [is_loopback(h) for h in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "192.168.1.5", "::")]
    [True, True, True, False, False, False]
    """
    h = _unbracket(host).lower()
    if h == "localhost":
        return True
    try:
        return ipaddress.ip_address(h).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to any interface


def _unbracket(host: str) -> str:
    """'[::1]' -> '::1' (the URL form of an IPv6 address); anything else as typed, '[::1' included."""
    host = host.strip()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def check_exposure(host: str, api_key: str | None) -> str | None:
    """Refuse a non-loopback ``host`` without an API key; with one, return the warning to print (None on loopback).

    Anyone who can reach a non-loopback address could otherwise use the model, and the machine, for free."""
    if is_loopback(host):
        return None
    if not api_key:
        raise InputError(
            f"Listening on {host} makes the server reachable from other machines, so it needs a key: "
            f"add --api-key KEY (or set {API_KEY_ENV}); clients then send 'Authorization: Bearer KEY'. "
            "Or keep the default host 127.0.0.1 (this machine only)."
        )
    if len(api_key.strip()) < MIN_API_KEY_CHARS:
        raise InputError(
            f"That API key is shorter than {MIN_API_KEY_CHARS} characters: too easy to guess for a server "
            "other machines can reach. Use a long random one (python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))')."
        )
    return (
        f"warning: serving on {host}, reachable from other machines; every request must carry the API key "
        "(Authorization: Bearer KEY). Stop it (Ctrl+C) when you are done."
    )


def check_port_free(host: str, port: int) -> None:
    """Refuse early, with the fix, when something already listens on (host, port)."""
    if not 1 <= port <= 65535:
        raise InputError(f"Port {port} is not a valid TCP port (1-65535).")
    try:
        infos = socket.getaddrinfo(_unbracket(host), port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, ValueError):
        raise InputError(
            f"{host!r} is not an address this machine can listen on: use 127.0.0.1 (this machine "
            "only) or 0.0.0.0 (every interface, with --api-key)."
        ) from None
    family, _, _, _, addr = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as s:
        # SO_REUSEADDR as uvicorn sets it: a port left in TIME_WAIT by a stopped server is free, a listening one is not.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(addr)
        except OSError as e:
            raise InputError(
                f"Port {port} on {host} is already in use ({e.strerror}). Pick another port, or stop "
                "the server that holds it."
            ) from e


def serve(
    path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    n_ctx: int | None = None,
    n_gpu_layers: int = 0,
    n_threads: int | None = None,
    api_key: str | None = None,
) -> None:
    """Serve ``path`` at http://host:port/v1 until interrupted (blocking).

    A host other than loopback needs ``api_key`` (see ``check_exposure``). Replies name the model by its file
    name (``model_alias``), never by its path on this machine."""
    import uvicorn
    from llama_cpp.server.app import create_app
    from llama_cpp.server.settings import ModelSettings, ServerSettings

    from lab.core.gguf_check import check_gguf_file
    from lab.core.keys import register_secret
    from lab.gguf.runtime import gpu_backend, no_gpu_message
    from lab.llm.local import default_model_path

    path = Path(path) if path else default_model_path()
    api_key = (api_key or "").strip() or None
    register_secret(api_key)  # redacted from every message from now on
    warning = check_exposure(host, api_key)
    check_port_free(host, port)
    check_gguf_file(path)
    if n_gpu_layers and not gpu_backend().available:
        raise InputError(no_gpu_message(n_gpu_layers))
    threads = n_threads or get_settings().n_threads or max(1, os.cpu_count() or 1)
    # A reply names its model by the alias a client asked for, else by the path llama.cpp loaded: loaded by its
    # file name from inside its folder, every reply says "SmolLM2-...gguf", never this machine's folders.
    path = path.absolute()
    model = ModelSettings(
        model=path.name,
        model_alias=path.name,
        n_ctx=n_ctx or get_settings().n_ctx,
        n_gpu_layers=n_gpu_layers,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    here = os.getcwd()
    os.chdir(path.parent)
    try:  # the model loads here, once: the server never reopens it by that relative name
        app = create_app(server_settings=ServerSettings(host=host, port=port, api_key=api_key), model_settings=[model])
    finally:
        os.chdir(here)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    print(f"Serving {path.name} at http://{host}:{port}/v1 (Ctrl+C stops)", file=sys.stderr, flush=True)
    uvicorn.run(app, host=host, port=port, log_level="warning")


@dataclass
class ServerHandle:
    proc: subprocess.Popen
    host: str
    port: int
    model: str
    log: Path
    owner: str | None = None  # who started it (the app: a session id); None = no one in particular (CLI, tests)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None


_SERVERS: dict[int, ServerHandle] = {}
_SERVERS_LOCK = threading.Lock()
_STARTING = [0]  # servers between Popen and their first answer: they count against the cap too


def _reserve_slot() -> None:
    cap = get_settings().max_servers
    with _SERVERS_LOCK:
        live = sum(h.alive for h in _SERVERS.values()) + _STARTING[0]
        if live >= cap:
            raise InputError(
                f"{live} server(s) already run on this machine, the most allowed at once "
                f"(LAB_MAX_SERVERS={cap}): each holds its own copy of a model. Stop one of yours, "
                "or wait for a classmate to stop theirs, then start again."
            )
        _STARTING[0] += 1


def _release_slot() -> None:
    with _SERVERS_LOCK:
        _STARTING[0] -= 1


def start(
    path: str | Path | None = None,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    n_ctx: int | None = None,
    n_gpu_layers: int = 0,
    n_threads: int | None = None,
    timeout_s: float = 120.0,
    owner: str | None = None,
    log_dir: Path | None = None,
    api_key: str | None = None,
) -> ServerHandle:
    """Launch ``python -m lab gguf serve`` as a child process; return once it answers ``GET /v1/models``.

    ``owner`` tags the handle (see ``running`` / ``stop``); the log goes to ``log_dir`` (default
    ``<data_dir>/gguf``). Refused while ``LAB_MAX_SERVERS`` servers already run."""
    from lab.core.gguf_check import check_gguf_file
    from lab.llm.local import default_model_path

    path = Path(path) if path else default_model_path()
    check_exposure(host, api_key)  # the child would refuse the same way, less visibly
    check_gguf_file(path)
    check_port_free(host, port)
    _reserve_slot()
    try:
        return _start(path, host, port, n_ctx, n_gpu_layers, n_threads, timeout_s, owner, log_dir, api_key)
    finally:
        _release_slot()


def _start(
    path: Path, host: str, port: int, n_ctx, n_gpu_layers, n_threads, timeout_s, owner, log_dir, api_key=None
) -> ServerHandle:
    cmd = [
        sys.executable,
        "-m",
        "lab",
        "gguf",
        "serve",
        "--model",
        str(path),
        "--host",
        host,
        "--port",
        str(port),
        "--n-gpu-layers",
        str(n_gpu_layers),
    ]
    cmd += ["--n-ctx", str(n_ctx)] if n_ctx else []
    cmd += ["--threads", str(n_threads)] if n_threads else []
    log = Path(log_dir or get_settings().data_dir / "gguf") / f"server-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    # llama.cpp's OpenMP threads spin while waiting by default; on a shared machine that steals the cores the
    # app and other sessions need (measured here: 4-6x slower pp/tg under load). Passive waiting yields them.
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.pop(API_KEY_ENV, None)
    if api_key:
        env[API_KEY_ENV] = api_key  # by environment, not argv: another user's `ps` cannot read it
    with open(log, "wb") as out:  # a file, not a pipe: a chatty child can never block on a full pipe
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    handle = ServerHandle(proc, host, port, path.name, log, owner)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not handle.alive:
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            msg = " ".join(tail) or f"exit code {proc.returncode}"
            raise (InputError if "error:" in msg else ProviderUnavailable)(f"The server did not start: {msg}")
        if _answers(handle):
            with _SERVERS_LOCK:
                _SERVERS[port] = handle
            return handle
        time.sleep(0.3)
    _terminate(proc)
    raise ProviderUnavailable(f"The server did not answer within {timeout_s:.0f} s; see {log}.")


def _answers(handle: ServerHandle) -> bool:
    try:
        with urllib.request.urlopen(handle.base_url + "/models", timeout=2) as r:
            return r.status == 200
    except urllib.error.HTTPError as e:
        return e.code == 401  # up, and guarded by its API key
    except OSError:
        return False


def _terminate(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()  # uvicorn shuts down cleanly on SIGTERM
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def stop(handle_or_port: ServerHandle | int, owner: str | None = None) -> None:
    """Stop a server; with ``owner``, only one that owner started (another's is refused, untouched)."""
    port = handle_or_port if isinstance(handle_or_port, int) else handle_or_port.port
    with _SERVERS_LOCK:
        handle = _SERVERS.get(port) or (handle_or_port if isinstance(handle_or_port, ServerHandle) else None)
        if owner is not None and (handle is None or handle.owner != owner):
            raise InputError(f"No server of yours runs on port {port}: you can stop only the servers you started.")
        _SERVERS.pop(port, None)
    if handle is not None:
        _terminate(handle.proc)


def running(owner: str | None = None) -> list[ServerHandle]:
    """Servers started by this process that are still up (dead ones are forgotten); with ``owner``, only theirs."""
    with _SERVERS_LOCK:
        for port in [p for p, h in _SERVERS.items() if not h.alive]:
            del _SERVERS[port]
        return [h for h in _SERVERS.values() if owner is None or h.owner == owner]


@atexit.register
def _stop_all() -> None:
    for h in running():
        stop(h)
