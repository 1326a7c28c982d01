"""The Pricer page, headless (AppTest): data view, training baselines, the scoreboard, beating the model."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "6_Pricer.py")
pytestmark = pytest.mark.slow  # the page tokenizes its offline data with SmolLM2's tokenizer (transformers)


def test_data_baselines_scoreboard_and_leaderboard(tmp_settings, no_keys):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Items"] == "349" and metrics["Train / test"] == "279 / 70"
    assert "price is a range (14)" in " ".join(c.value for c in at.caption)
    assert at.info and any("Train a baseline" in i.value for i in at.info)  # the scoreboard waits for a run

    at.multiselect(key="pricer.baselines").set_value(["constant (train mean)", "bag of words + LR"])
    at.button(key="pricer.train").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "MAE 95% CI" in d.value.columns)
    assert list(table["name"]) == ["bag of words + LR (k-fold)", "constant (train mean) (k-fold)"]  # best first
    assert table["mae"].iloc[0] < table["mae"].iloc[1] and (table["items"] == 349).all()  # every item scored
    # the scoreboard tab now charts a run, and the leaderboard file has both
    assert at.selectbox(key="pricer.chart").options == ["bag of words + LR (k-fold)", "constant (train mean) (k-fold)"]
    labels = {m.label for m in at.metric}
    assert {"Mean abs. error", "RMSLE", "Hit rate (green)"} <= labels
    board = (tmp_settings.data_dir / "pricer" / "leaderboard.json").read_text()
    assert "bag of words + LR" in board and "constant (train mean)" in board and "mae_ci" in board
    assert any("theirs" in c.value and "$106" in c.value for c in at.caption)

    # the course's way: train split -> 70 test items, wider interval
    at.radio(key="pricer.eval").set_value("test split")
    at.button(key="pricer.train").click().run()
    assert not at.exception and not at.error
    table = next(d.value for d in at.dataframe if "MAE 95% CI" in d.value.columns)
    assert set(table["items"]) == {70, 349}


def test_network_trains_with_a_live_loss(tmp_settings, no_keys):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.slider(key="pricer.nn_epochs").set_value(5)
    at.button(key="pricer.nn").click().run()
    assert not at.exception and not at.error
    assert at.success and "test MAE $" in at.success[0].value and "95% CI" in at.success[0].value
    assert any("epoch 5/5" in c.value for c in at.caption)


def test_rewrite_tab_shows_the_cost_before_sending(tmp_settings, no_keys):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert any("to rewrite" in i.value and "estimated cost" in i.value for i in at.info)


def test_beat_the_model_joins_the_leaderboard(tmp_settings, no_keys):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.number_input(key="pricer.k").set_value(3).run()
    for j in range(3):
        at.number_input(key=f"pricer.guess{j}").set_value(400.0)
    at.text_input(key="pricer.who").set_value("Ada")
    next(b for b in at.button if b.label == "Score me").click().run()  # the form's submit button
    assert not at.exception
    assert at.success and at.success[0].value.startswith("you: Ada: MAE $")
    from lab.pricer.metrics import load_leaderboard

    rows = load_leaderboard()
    assert rows[0]["name"] == "you: Ada" and rows[0]["kind"] == "human" and rows[0]["n"] == 3


def test_a_test_set_larger_than_the_data_is_explained(tmp_settings, no_keys):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    at.number_input(key="pricer.DataConfig.test_items").set_value(5000).run()
    assert not at.exception
    assert at.error and "at most 348" in at.error[0].value


@pytest.mark.slow
def test_llm_pricer_tab_with_the_local_model(tmp_settings, no_keys):
    """SmolLM2 prices one item; whatever it says is shown, and a reply without a number is counted as a miss."""
    at = AppTest.from_file(PAGE, default_timeout=300).run()
    at.slider(key="pricer.llm_n").set_value(1)
    at.button(key="pricer.llm").click().run()
    assert not at.exception and not at.error
    text = " ".join(m.value for m in at.markdown)
    assert "**local/" in text and "replies without a number" in text
    replies = next(d.value for d in at.dataframe if "reply" in d.value.columns)
    assert len(replies) == 1 and replies["hit"].iloc[0] in {"green", "orange", "red"}
