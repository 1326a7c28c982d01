"""The Fine-tune page headless: form validation, memory plan, data with its loss mask, a launched run's live view."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.finetune import runner

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "7_Fine_tune.py")
K = "ft.defaults."


def _widget(at, kind, key):
    return next(w for w in getattr(at, kind) if w.key == key)


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow  # launches a training run of the tiny Llama from the page
def test_page_plans_shows_the_mask_launches_and_plots(tiny_dir, ft_settings):
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception and at.title[0].value.startswith("🎛️ Fine-tune")
    # help texts come from the pydantic descriptions
    assert "alpha / r" in _widget(at, "number_input", K + "lora_alpha").help

    # an inconsistent config is refused with the reason, and nothing below the form runs
    _widget(at, "number_input", K + "lora_alpha").set_value(0).run()
    assert any("alpha/r = 0" in e.value for e in at.error) and not at.tabs
    _widget(at, "number_input", K + "lora_alpha").set_value(16).run()

    _widget(at, "text_input", K + "base_model").set_value(str(tiny_dir)).run()
    _widget(at, "number_input", K + "max_steps").set_value(3).run()
    assert not at.error
    at.button(key="plan").click().run()
    # LoRA r=8 on q (64->64) and v (64->32) in 2 layers: 2 x (8*128 + 8*96) = 3,584
    assert _metric(at, "Trainable parameters") == "3,584"
    assert len(at.get("plotly_chart")) >= 1

    at.button(key="data").click().run()
    assert not at.exception
    assert _metric(at, "Training items") == "200"
    mask = [m.value for m in at.markdown if "background:#c8f7c5" in m.value]
    assert mask and "Price" in mask[0] and "&lt;|im_end|&gt;" in mask[0]

    at.button(key="launch").click().run()
    assert not at.exception, at.exception
    run_id = at.session_state["ft.run"]
    from lab.classroom import sessions

    run_dir = sessions.session_dir(at.session_state["_session_id"], "runs") / run_id  # the session's own runs
    assert runner.run_path(run_dir) and runner.list_runs() == []  # not the CLI's root
    st = runner.wait(run_dir, timeout=240)
    assert st["state"] == "finished", st
    at.run()
    assert _metric(at, "State") == "finished" and _metric(at, "Step") == "3 / 3"
    assert any(run_id in str(df.value.get("run_id", [])) for df in at.dataframe)
    assert len(at.get("plotly_chart")) >= 1
