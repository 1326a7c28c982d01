"""The app on a real server: ``streamlit run Home.py`` on a free loopback port, as ``make run`` starts it.

Shared by the browser tests, the load test and the start-up benchmark, so all of them measure the same thing:

    >>> with app_server() as url:                       # doctest: +SKIP
    ...     urllib.request.urlopen(url + "/_stcore/health").read()
    b'ok'
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LAB_CHROMIUM") or "/usr/bin/chromium"  # Debian's, driven by Playwright (see chromium_path)
CHROME_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    """The Chromium binary the browser tests and benches drive: ``LAB_CHROMIUM`` if set (read now), else Debian's."""
    return os.environ.get("LAB_CHROMIUM") or "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(log: Path, timeout_s: float = 60) -> tuple[subprocess.Popen, str]:
    """Start the server (its output goes to ``log``) and wait until it answers its health check."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamlit",
            "run",
            "Home.py",
            "--server.port",
            str(port),
            "--server.address",
            "127.0.0.1",
            "--server.headless",
            "true",
        ],
        cwd=ROOT,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/_stcore/health", timeout=1)
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("streamlit did not start: " + log.read_text(errors="replace")[-2000:])


@contextmanager
def app_server(log: Path | None = None) -> Iterator[str]:
    """The server's base URL while the block runs; stopped afterwards."""
    import tempfile

    log = log or Path(tempfile.mkdtemp()) / "server.log"
    proc, url = start(log)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
