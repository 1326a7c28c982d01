"""Background warm-up: steps run once, in order, failures reported and skipped; the real steps fill the caches."""

from __future__ import annotations

import threading
import time

import pytest

from lab.classroom.warmup import STEPS, WarmUp


def test_steps_run_once_in_order_and_a_failure_is_reported_not_raised():
    order = []
    w = WarmUp([("a", lambda: order.append("a")), ("broken", lambda: 1 / 0), ("b", lambda: order.append("b"))])
    assert w.state() == {"a": "waiting", "broken": "waiting", "b": "waiting"}
    assert w.start(delay_s=0) is True
    assert w.start(delay_s=0) is False          # once per process
    w.wait(5)
    assert order == ["a", "b"]
    st = w.state()
    assert st["a"].startswith("done in ") and st["b"].startswith("done in ")
    assert st["broken"] == "failed: ZeroDivisionError: division by zero"


def test_start_returns_at_once_and_state_shows_progress():
    gate = threading.Event()
    w = WarmUp([("slow", lambda: gate.wait(5))])
    w.start(delay_s=0)                           # returns while the step is still blocked: the page is not held up
    for _ in range(200):
        if w.state()["slow"] == "running":
            break
        time.sleep(0.01)
    assert w.state()["slow"] == "running"
    gate.set()
    w.wait(5)
    assert w.state()["slow"].startswith("done")


@pytest.mark.slow
def test_the_real_steps_fill_the_caches_the_pages_use(lab_data, monkeypatch):
    from lab.tokenization import registry
    from lab.rag import embeddings, retrieval

    monkeypatch.setattr(registry, "_CACHE", {})       # start cold, whatever earlier tests loaded
    monkeypatch.setattr(embeddings, "_MODEL", None)
    monkeypatch.setattr(retrieval, "_INDEXES", {})
    w = WarmUp(STEPS)
    w.start(delay_s=0)
    w.wait(600)
    assert all(v.startswith("done") for v in w.state().values()), w.state()
    assert set(registry.BUILTIN) <= set(registry._CACHE)
    assert embeddings._MODEL is not None                      # the page's first query embeds without loading
    kinds = {key[0] for key in retrieval._INDEXES}
    assert {"chroma", "faiss"} <= kinds                        # the page's get_index finds both built
