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
