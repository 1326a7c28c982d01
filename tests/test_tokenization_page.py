"""The Tokenization page headless (AppTest), and its HTML renderer."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.tokenization.pieces import Piece
from ui.tokenization import pieces_html

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "2_Tokenization.py")


def test_renderer_escapes_and_marks_whitespace_specials_and_bytes():
    ps = [
        Piece(1, b"<script>alert(1)</script>"),
        Piece(2, b" a\n", special=False),
        Piece(3, b"<|im_start|>", True),
        Piece(4, b"\xf0\x9f"),
    ]
    out = pieces_html(ps, show_ws=True, show_ids=True)
    assert "<script>" not in out and "&lt;script&gt;alert(1)&lt;/script&gt;" in out
    assert "·a↵\n" in out  # space and newline made visible
    assert 'class="tok tok-special"' in out and "&lt;|im_start|&gt;" in out
    assert 'class="tok tok-bytes"' in out and "&lt;0xF0 0x9F&gt;" in out
    assert '<span class="tok-id">4</span>' in out and 'title="id 4"' in out
    assert " a\n" in pieces_html(ps[1:2]) and "·" not in pieces_html(ps[1:2])


def _html(at) -> str:
    return "\n".join(m.value for m in at.markdown)


@pytest.fixture(scope="module")
def page():
    at = AppTest.from_file(PAGE, default_timeout=180).run()
    assert not at.exception, at.exception
    return at


@pytest.mark.slow  # the page fixture loads SmolLM2's vocabulary through llama.cpp
def test_side_by_side_columns_with_counts(page):
    html = _html(page)
    for name in ("cl100k_base", "o200k_base", "llama-3", "smollm2", "qwen"):
        assert f"**{name}**" in html
    assert len(page.metric) == 5  # one token count per tokenizer
    assert sum("characters per token" in c.value for c in page.caption) == 5
    assert html.count('class="tok-row"') >= 5


@pytest.mark.slow  # the page fixture loads SmolLM2's vocabulary through llama.cpp
def test_typed_text_is_escaped_and_whitespace_toggle_shows_it(page):
    page.text_area(key="text").set_value("<b>bold</b>  1234567\nnext").run()
    page.toggle(key="ws").set_value(True).run()
    assert not page.exception
    html = _html(page)
    assert "<b>" not in html and "&lt;b" in html and "&lt;/" in html  # each piece escaped on its own
    assert "↵" in html and "·" in html
    assert all(int(m.value) > 5 for m in page.metric)


@pytest.mark.slow  # the page fixture loads SmolLM2's vocabulary through llama.cpp
def test_decode_box_and_out_of_range(page):
    page.selectbox(key="dec.name").set_value("llama-3")
    page.text_input(key="dec.ids").set_value("9906, 1917")
    page.button(key="dec.go").click().run()
    assert page.code[0].value == "Hello world"
    page.text_input(key="dec.ids").set_value("9906, 999999")
    page.button(key="dec.go").click().run()
    assert "out of range for llama-3" in page.error[0].value


@pytest.mark.slow  # the page fixture loads SmolLM2's vocabulary through llama.cpp
def test_chat_template_with_special_tokens_marked(page):
    page.selectbox(key="chat.name").set_value("smollm2")
    page.button(key="chat.go").click().run()
    assert not page.exception
    assert any("<|im_start|>assistant" in c.value for c in page.code)
    assert "tok tok-special" in _html(page)
    page.checkbox(key="chat.gen").uncheck()
    page.button(key="chat.go").click().run()
    assert all(not c.value.rstrip().endswith("<|im_start|>assistant") for c in page.code)


@pytest.mark.slow  # the page fixture loads SmolLM2's vocabulary through llama.cpp
def test_numbers_and_cost_tables(page):
    frames = {tuple(f.value.columns): f.value for f in page.dataframe}
    numbers = next(v for k, v in frames.items() if "llama-3" in k)
    assert numbers.loc["1234567", "llama-3"] == "123 | 456 | 7"
    assert numbers.loc["1234567", "smollm2"] == "1 | 2 | 3 | 4 | 5 | 6 | 7"
    cost = next(f.value for f in page.dataframe if "cost_usd" in getattr(f.value, "columns", []))
    assert "gpt-4o-mini" in set(cost["model"])
