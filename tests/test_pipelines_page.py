"""The Pipelines page, run headless with Streamlit's AppTest: tiny-model runs, offline messages, images."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.core import assets

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "4_Pipelines.py")
pytestmark = [
    pytest.mark.skipif(assets.minilm_dir() is None, reason="MiniLM asset missing (tiny tokenizers)"),
    pytest.mark.slow,
]  # every test runs transformers or diffusers pipelines (torch)


@pytest.fixture(scope="module", autouse=True)
def _private_data(lab_data):
    """Every test here writes into the module's private data dir (tests/conftest.py: lab_data)."""
    return lab_data


def _page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def test_offline_task_explains_and_tiny_mode_runs_labelled():
    at = _page()
    assert not at.exception
    at.selectbox(key="pl_task").set_value("ner").run()
    assert "Hub is unreachable" in at.warning[0].value and "dbmdz/bert-large-cased" in at.warning[0].value
    assert at.button(key="pl_run").disabled
    at.checkbox(key="pl_tiny").check().run()
    at.text_area(key="pl_text_ner").input("Ada Lovelace met Charles Babbage in London.").run()
    at.button(key="pl_run").click().run()
    assert not at.exception
    assert any("UNTRAINED" in w.value for w in at.warning)
    assert at.json and isinstance(at.json[0].value, str) and "entity_group" in at.json[0].value
    assert any("-background[" in m.value for m in at.markdown)  # highlighted entities
    assert any("Memory footprint" == m.label for m in at.metric)
    at.button(key="pl_quant").click().run()  # CPU: estimated, and says why
    assert not at.exception and any("GPU" in c.value for c in at.caption)


def test_zero_shot_offline_runs_the_real_minilm_with_label_bars():
    at = _page()
    at.selectbox(key="pl_task").set_value("zero-shot-classification").run()
    at.text_input(key="pl_labels").input("sports, politics, cooking").run()
    at.text_area(key="pl_text_zero-shot-classification").input("The striker scored twice in the final.").run()
    at.button(key="pl_run").click().run()
    assert not at.exception and not any("UNTRAINED" in w.value for w in at.warning)
    assert any("MiniLM" in i.value for i in at.info)
    bars = [b.proto.text for b in at.get("progress")]
    assert len(bars) == 3 and bars[0].startswith("sports:")


def test_image_tab_generates_with_the_tiny_pipeline():
    at = _page()
    at.radio(key="pl_mode").set_value("Image generation").run()
    assert not at.exception and "unreachable" in at.warning[0].value
    at.checkbox(key="df_tiny").check().run()
    at.number_input(key="df_DiffusionOptions.steps").set_value(3).run()
    at.button(key="df_run").click().run()
    assert not at.exception
    assert any("UNTRAINED" in w.value for w in at.warning)
    assert at.get("download_button")[0].label == "Download PNG"
    images = at.get("image")
    assert len(images) == 1 and "3 steps" in str(images[0].proto) and "UNTRAINED" in str(images[0].proto)
    assert at.get("progress")[0].proto.value == 100 and "3/3" in at.get("progress")[0].proto.text
