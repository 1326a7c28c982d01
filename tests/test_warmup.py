"""Background warm-up: registered steps run once, in order, failures reported and skipped; the app's steps
(registered by ui/warm.py, as Home.py does) fill the caches the pages use."""

from __future__ import annotations

import threading
import time

import pytest

from lab.classroom import warmup
from lab.classroom.warmup import WarmUp


def test_steps_run_once_in_order_and_a_failure_is_reported_not_raised():
    order = []
    w = WarmUp([("a", lambda: order.append("a")), ("broken", lambda: 1 / 0), ("b", lambda: order.append("b"))])
    assert w.state() == {"a": "waiting", "broken": "waiting", "b": "waiting"}
    assert w.start(delay_s=0) is True
    assert w.start(delay_s=0) is False  # once per process
    w.wait(5)
    assert order == ["a", "b"]
    st = w.state()
    assert st["a"].startswith("done in ") and st["b"].startswith("done in ")
    assert st["broken"] == "failed: ZeroDivisionError: division by zero"


def test_start_returns_at_once_and_state_shows_progress():
    gate = threading.Event()
    w = WarmUp([("slow", lambda: gate.wait(5))])
    w.start(delay_s=0)  # returns while the step is still blocked: the page is not held up
    for _ in range(200):
        if w.state()["slow"] == "running":
            break
        time.sleep(0.01)
    assert w.state()["slow"] == "running"
    gate.set()
    w.wait(5)
    assert w.state()["slow"].startswith("done")


@pytest.fixture
def fresh_registry(monkeypatch):
    """This process's warm-up as a new process sees it: nothing registered, not started."""
    monkeypatch.setattr(warmup, "_STEPS", {})
    monkeypatch.setattr(warmup, "_PROCESS", None)


def test_the_process_runs_what_was_registered_in_order_once(fresh_registry):
    order = []
    warmup.register("a", lambda: order.append("a"))
    warmup.register("broken", lambda: 1 / 0)
    warmup.register("b", lambda: order.append("b"))
    warmup.register("a", lambda: order.append("a again"))  # registered again: replaced in place, not added
    assert [name for name, _ in warmup.steps()] == ["a", "broken", "b"]
    assert warmup.state() == {"a": "waiting", "broken": "waiting", "b": "waiting"}  # before start
    assert warmup.start(delay_s=0) is True
    assert warmup.start(delay_s=0) is False  # once per process
    warmup._PROCESS.wait(5)
    assert order == ["a again", "b"]
    assert warmup.state()["broken"] == "failed: ZeroDivisionError: division by zero"


def test_the_app_registers_the_same_steps_in_the_same_order(fresh_registry):
    from ui import warm

    warm.register_steps()
    warm.register_steps()  # every page run: idempotent
    assert [name for name, _ in warmup.steps()] == [
        "tokenizers",
        "local model",
        "MiniLM embedder",
        "RAG indexes",
        "RAG best mode",
    ]


@pytest.mark.slow
def test_the_real_steps_fill_the_caches_the_pages_use(lab_data, monkeypatch, fresh_registry):
    from lab.rag import embeddings, modes, retrieval, views
    from lab.tokenization import registry
    from ui.warm import register_steps

    registry._build.cache_clear()  # start cold, whatever earlier tests loaded
    embeddings.load_minilm.cache_clear()
    embeddings.minilm_onnx.cache_clear()
    monkeypatch.setattr(retrieval, "_INDEXES", {})
    register_steps()  # as Home.py does, before warmup.start
    w = WarmUp(warmup.steps())
    w.start(delay_s=0)
    w.wait(600)
    assert all(v.startswith("done") for v in w.state().values()), w.state()
    assert all(name in registry._build for name in registry.BUILTIN)
    assert () in embeddings.load_minilm  # the page's first query embeds without loading
    assert () in embeddings.minilm_onnx  # ... and without exporting the question path
    kinds = {key[0] for key in retrieval._INDEXES}
    assert {"chroma", "faiss"} <= kinds  # the page's get_index finds both built
    best = modes.best_embedder_name()
    (idx,) = [i for key, i in retrieval._INDEXES.items() if key[:3] == ("faiss", best, modes.best_chunking().tag())]
    views = views._VIEWS[idx.bm25()]  # built already (asking line_vectors() here would build them)
    assert {("lines", best), ("cards", best)} <= set(views)  # best's first question builds nothing more
    assert len(views[("lines", best)].lines) > 1000
