"""The Evaluate page, headless (AppTest), on scripted models: the suite with its table and chart, a blind battle
whose names appear only after the vote, the class ratings, the leaderboard cards."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.evaluate.models import ModelSpec
from lab.llm.fake import FakeProvider

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "10_Evaluate.py")
SPECS = [
    ModelSpec("alpha.gguf", "fake", "alpha", bytes=100_000_000),
    ModelSpec("beta.gguf", "fake", "beta", bytes=50_000_000),
]
REPLIES = {"alpha.gguf": "Paris, of course.", "beta.gguf": "I think it is Lyon."}


@pytest.fixture
def scripted(monkeypatch, tmp_settings, no_keys):
    import ui.evaluate as U
    from lab.evaluate import models

    monkeypatch.setattr(models, "local_candidates", lambda uploads=None: list(SPECS))
    monkeypatch.setattr(U, "build", lambda spec: FakeProvider(default=REPLIES[spec.label]))
    return tmp_settings


def test_page_runs_the_suite_and_draws_the_chart(scripted):
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert [t.label for t in at.tabs] == ["Your leaderboard", "Blind arena", "Public leaderboards"]
    at.multiselect(key="evaluate.suite.local").set_value(["alpha.gguf", "beta.gguf"])
    at.multiselect(key="evaluate.tasks").set_value(["general"])
    at.number_input(key="evaluate.n").set_value(2)
    at.button(key="evaluate.run").click().run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == ["alpha.gguf", "beta.gguf"]
    assert list(table["score"]) == [0.5, 0.0] and list(table["MB"]) == [100, 50]
    assert len(at.get("plotly_chart")) == 1
    assert any(e.label == "alpha.gguf · general: 0.50 over 2 cases" for e in at.expander)
    cards = " ".join(m.value for m in at.markdown)
    assert "LLM-Perf" in cards and "lmarena.ai" in cards


def test_page_battle_is_blind_then_reveals_and_counts_the_vote(scripted):
    from lab.evaluate.arena import VoteStore

    at = AppTest.from_file(PAGE, default_timeout=60).run()
    at.multiselect(key="evaluate.arena.local").set_value(["alpha.gguf", "beta.gguf"])
    at.button(key="evaluate.battle_go").click().run()
    assert not at.exception
    shown = " ".join(m.value for m in at.markdown)
    assert "**Model A**" in shown and "**Model B**" in shown
    assert "Paris, of course." in shown and "I think it is Lyon." in shown
    assert "**Model A**: alpha.gguf" not in shown and "**Model A**: beta.gguf" not in shown  # blind
    at.button(key="evaluate.vote_a").click().run()
    assert not at.exception
    assert "Vote recorded. Model A was" in at.success[0].value
    assert VoteStore().count() == 1
    ratings = at.dataframe[-1].value
    assert sorted(ratings["model"]) == ["alpha.gguf", "beta.gguf"] and list(ratings["votes"]) == [1, 1]
