"""Shared fixtures: the loopback wire server, the scripted provider, an isolated data directory, the tiny fine-tune
model and SmolLM2's transformers copy, the fake company website, the real app server and Chromium.

Every fixture used by more than one test module lives here; plain helpers live in tests/helpers.py. No test module
imports another. Browser tests (marker ``browser``) are skipped with a reason when Chromium or Playwright is missing.
"""

from __future__ import annotations

import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
ARTIFACTS = ROOT / "test-artifacts"

# Tests run offline: never let a library reach for the Hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # llama.cpp's OpenMP threads: don't spin (see lab/llm/local.py)
os.environ.setdefault("LAB_WARM_UP", "0")  # no background model loading in tests (tests/test_warmup.py)


@pytest.fixture
def wire():
    from tests.wireserver import WireServer

    server = WireServer()
    yield server
    server.close()


@pytest.fixture
def fake():
    from lab.llm.fake import FakeProvider

    return FakeProvider()


@pytest.fixture
def no_keys(monkeypatch):
    """A clean environment: no provider key set."""
    from lab.core.keys import ENV_VARS

    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tmp_settings(tmp_path, monkeypatch):
    """Point the lab's data directory at a temp folder (derived assets must be made or linked by the test)."""
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    yield get_settings()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="module")
def lab_data(tmp_path_factory):
    """A private data dir for one test module; SmolLM2's converted copy is linked from the real one (no
    re-conversion). Restores the previous LAB_DATA_DIR afterwards."""
    from lab.core.settings import get_settings

    real = get_settings().data_dir
    data = tmp_path_factory.mktemp("lab-data")
    src = real / "models" / "smollm2-135m-instruct-hf"
    if (src / ".complete").exists():
        (data / "models").mkdir()
        (data / "models" / "smollm2-135m-instruct-hf").symlink_to(src)
    old = os.environ.get("LAB_DATA_DIR")
    os.environ["LAB_DATA_DIR"] = str(data)
    get_settings.cache_clear()
    yield data
    if old is None:
        os.environ.pop("LAB_DATA_DIR", None)
    else:
        os.environ["LAB_DATA_DIR"] = old
    get_settings.cache_clear()


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """The app on a real ``streamlit run`` server (bench.appserver), one per test module."""
    from bench.appserver import app_server

    with app_server(tmp_path_factory.mktemp("server") / "server.log") as url:
        yield url


# ---------------------------------------------------------------------------------------------- fine-tune
@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """The tiny Llama with SmolLM2's tokenizer (tests.helpers.tiny_model_dir), built once per session."""
    from tests.helpers import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("finetune"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from lab.core import assets

    return assets.smollm2_hf_dir()  # the real data dir's copy, made once by `python -m lab assets --prepare`


@pytest.fixture
def ft_settings(tmp_settings, smollm2_dir):
    """An empty data dir for runs, with the SmolLM2 transformers copy linked in (no 20 s re-conversion)."""
    from lab.core import assets

    target = tmp_settings.data_dir / assets.SPECS[[s.name for s in assets.SPECS].index("smollm2-hf")].relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(smollm2_dir, target_is_directory=True)
    return tmp_settings


# ---------------------------------------------------------------------------------------------- the fake website
ACME_SITE = {
    "/": """<html><head><title>Acme Rockets</title></head><body><h1>Acme Rockets</h1>
        <p>Reusable rockets for small satellites.</p>
        <a href="/about">About</a> <a href="/careers">Careers</a> <a href="/privacy">Privacy</a>
        <a href="/gone">Old page</a> <a href="https://twitter.example/acme">Twitter</a></body></html>""",
    "/about": "<html><title>About Acme</title><body><p>Founded in 2019 in Toulouse by two engineers.</p></body></html>",
    "/careers": "<html><title>Careers</title><body><p>We are hiring propulsion engineers. Remote friendly.</p>"
    "</body></html>",
    "/privacy": "<html><title>Privacy</title><body><p>We store cookies.</p></body></html>",
}


@pytest.fixture
def acme():
    """A small fake company website (ACME_SITE) on a loopback port; ``.url`` is its base, ``.hits`` the paths asked."""
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            hits.append(self.path)
            body = ACME_SITE.get(self.path)
            self.send_response(200 if body else 404)
            data = (body or "not found").encode()
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.hits = hits
    yield httpd
    httpd.shutdown()
    httpd.server_close()


# ---------------------------------------------------------------------------------------------- the browser
def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None when they can): Chromium (``bench.appserver.chromium_path()``:
    ``LAB_CHROMIUM``, else Debian's /usr/bin/chromium) or Playwright is missing."""
    import importlib.util

    from bench.appserver import chromium_path

    path = chromium_path()
    if not Path(path).exists():
        return f"Chromium not found at {path} (apt-get install chromium, or set LAB_CHROMIUM)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed (pip install playwright)"
    return None


def pytest_collection_modifyitems(config, items):
    """Browser tests skip, with the reason, before any server starts when Chromium or Playwright is missing."""
    browser_items = [item for item in items if item.get_closest_marker("browser")]
    reason = browser_missing() if browser_items else None
    if reason:
        for item in browser_items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium driven by Playwright, one per test module (skips when either is missing)."""
    reason = browser_missing()
    if reason:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    from bench.appserver import CHROME_ARGS, chromium_path

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROME_ARGS)
        yield b
        b.close()
