"""The Agents page, headless (AppTest): a cycle with a scripted model on the wire server, its live log and table,
memory (forget one, clear), the inbox, and the products map.

The ensemble's members are the test doubles of ``test_agents`` (the page's wiring is under test here, not the
models: those run in ``test_agents_slow.py``); the scanner and the messenger talk to the loopback wire server.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.helpers import doubles_agent

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "9_Agents.py")


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1")  # the page's typed base URL points at the loopback wire server
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def doubles(monkeypatch):
    from lab.agents import cycle

    monkeypatch.setattr(cycle, "get_ensemble", lambda provider, log=None, **kw: doubles_agent(log))


def test_page_runs_a_cycle_and_keeps_memory_and_inbox(wire, tmp_settings, no_keys, doubles):
    wire.queue("agents_openai_selection.sse").queue("agents_openai_message.sse")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Run", "Memory", "Inbox", "Products map"]
    at.selectbox(key="provider").set_value("openai-compatible").run()
    at.text_input(key="base_url_openai-compatible").set_value(wire.url + "/v1")
    at.button(key="agents.run").click().run()
    assert not at.exception, at.exception

    logs = " ".join(h.proto.body for h in at.get("html"))
    assert "[Scanner Agent]" in logs and "[Ensemble Agent]" in logs and "#00dddd" in logs  # coloured, per agent
    table = at.dataframe[0].value
    assert {
        "deal",
        "price",
        "estimate",
        "discount",
        "specialist guess",
        "frontier guess",
        "random_forest guess",
    } <= set(table.columns)
    assert len(table) == 5 and "Poly Studio P21" in " ".join(table["deal"])
    assert any("Notified (inbox)" in s.value for s in at.success)
    memory = at.dataframe[3].value
    assert len(memory) == 5
    # the memory and the inbox live in this browser session's own folder, nowhere else
    (path,) = (tmp_settings.data_dir / "sessions").glob("*/agents/memory.json")
    assert (path.parent / "inbox.json").exists() and not (tmp_settings.data_dir / "agents" / "memory.json").exists()
    inbox = " ".join(m.value for m in at.markdown)
    assert "for the price of lunch! $" in inbox and "(estimate $" in inbox

    at.button(key="agents.forget").click().run()
    assert not at.exception and len(at.dataframe[-1].value) == 4
    at.button(key="agents.clear").click().run()
    assert any("0 deal(s) surfaced" in c.value for c in at.caption)


def test_page_draws_the_products_store(tmp_settings, no_keys):
    """Vectors go straight into the raw chromadb collection here (the embedder is exercised elsewhere)."""
    import numpy as np

    from lab.agents.products import get_store

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(12, 384))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    cats = ["Televisions", "Laptops", "Audio"]
    get_store().collection.add(
        ids=[f"p{i}" for i in range(12)],
        embeddings=vectors.tolist(),
        documents=[f"product {i}" for i in range(12)],
        metadatas=[{"price": 10.0 * i + 5, "category": cats[i % 3], "title": f"product {i}"} for i in range(12)],
    )
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.radio(key="agents.dims").set_value(3)
    at.button(key="agents.map").click().run()
    assert not at.exception, at.exception
    spec = at.get("plotly_chart")[0].proto.spec.replace(" ", "")
    assert spec.count('"type":"scatter3d"') == 3  # one trace per category
    assert any("12 products" in c.value for c in at.caption)


def test_run_every_n_minutes_runs_a_cycle_in_a_fragment(wire, tmp_settings, no_keys, doubles):
    wire.queue("agents_openai_selection.sse").queue("agents_openai_message.sse")
    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    at.selectbox(key="provider").set_value("openai-compatible").run()
    at.text_input(key="base_url_openai-compatible").set_value(wire.url + "/v1")
    at.number_input(key="agents.every").set_value(5).run()  # due at once: the fragment runs the first cycle
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 5 and len(wire.requests) == 2
    at.run()  # 5 minutes not yet passed: nothing runs again
    assert len(wire.requests) == 2 and any("Next automatic cycle" in c.value for c in at.caption)
    assert len(at.dataframe[0].value) == 5  # the last cycle stays on show


def test_local_llm_plan_is_labelled_with_its_measured_success_rate(tmp_settings, no_keys):
    """The autonomous plan on the local model says what it was measured to achieve, before anyone clicks Run."""
    from lab.agents.planner import LOCAL_PLANNER_MEASURED

    at = AppTest.from_file(PAGE, default_timeout=120)
    at.run()
    assert not any("Measured success rate" in i.value for i in at.info)  # the fixed plan needs no such label
    at.radio(key="agents.plan").set_value("llm").run()
    label = next(i.value for i in at.info if "Measured success rate" in i.value)
    m = LOCAL_PLANNER_MEASURED
    assert f"{m['notified']} of {m['inputs']} runs completed" in label
    assert "python -m lab agents run --plan llm" in label
