"""Shared fixtures: the loopback wire server, the scripted provider, an isolated data directory."""

from __future__ import annotations

import os
import sys
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
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")      # llama.cpp's OpenMP threads: don't spin (see lab/llm/local.py)
os.environ.setdefault("LAB_WARM_UP", "0")               # no background model loading in tests (tests/test_warmup.py)


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
    from lab.llm.keys import ENV_VARS

    for var in ENV_VARS.values():
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def tmp_settings(tmp_path, monkeypatch):
    """Point the lab's data directory at a temp folder (derived assets must be made or linked by the test)."""
    from lab.config import get_settings

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
    from lab.config import get_settings

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
