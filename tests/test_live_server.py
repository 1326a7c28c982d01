"""The real server with many sessions at once, driven by ``bench.stclient`` (a browser tab's websocket messages).

This is how the load test talks to the app, so it is checked here: widgets are found by key, values reach the
page, errors are reported, and concurrent sessions on one server each get their own results.
"""

from __future__ import annotations

import threading

import pytest
import tiktoken

from bench.appserver import app_server
from bench.stclient import StClient
from lab.core.assets import prepare_tiktoken_cache

pytestmark = pytest.mark.slow


def _cl100k_caption(text: str) -> str:
    prepare_tiktoken_cache()  # the official cl100k file from the offline asset package, as the app uses it
    n = len(tiktoken.get_encoding("cl100k_base").encode(text))
    return f"{len(text) / n:.2f} characters per token · {len(text.split()) / n:.2f} words per token"


def test_a_widget_value_reaches_the_page(app_url):
    with StClient(app_url) as s:
        first = s.open("Tokenization")
        assert not first.errors and "text" in s.widgets and first.first_widget_s <= first.seconds
        run = s.set(text="strawberry strawberry").rerun()
    assert not run.errors
    assert _cl100k_caption("strawberry strawberry") in run.texts


def test_errors_are_reported(app_url):
    with StClient(app_url) as s:
        assert s.open("No_such_lab").errors
        s.open("Tokenization")
        with pytest.raises(KeyError, match="no widget with key"):
            s.set(nope="x")


def test_concurrent_sessions_each_get_their_own_result(app_url):
    texts = [" ".join(["unbelievable"] * (i + 1)) + f" number {i * 7919}" for i in range(8)]
    got: dict[int, list[str]] = {}

    def student(i: int) -> None:
        with StClient(app_url) as s:
            s.open("Tokenization")
            for _ in range(3):  # rerun a few times so the sessions' runs overlap on the server
                run = s.set(text=texts[i]).rerun()
            got[i] = run.texts + run.errors

    threads = [threading.Thread(target=student, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    for i, text in enumerate(texts):
        assert _cl100k_caption(text) in got[i], f"session {i} did not get the result of its own text"


def test_a_second_click_before_the_first_run_ends_is_answered_once_each(app_url):
    with StClient(app_url) as s:
        s.open("Tokenization")
        assert s.set(text="first text").rerun(wait=False) is None
        run = s.set(text="the second text wins").rerun()  # reads the first run's end too
        assert _cl100k_caption("the second text wins") in run.texts
        run = s.set(text="and a third").rerun()  # nothing left over from the earlier two
    assert run.texts.count(_cl100k_caption("and a third")) >= 1
    assert _cl100k_caption("the second text wins") not in run.texts


def test_a_direct_visit_to_a_lab_runs_home_first(tmp_path):
    """Home.py applies secrets, serialises heavy imports and draws the sectioned sidebar; a folder named pages/
    next to it would make Streamlit run a lab directly, skipping all that, until someone opened Home."""
    from bench.appserver import ROOT

    assert not (ROOT / "pages").exists()
    with app_server(tmp_path / "server.log") as url, StClient(url) as s:  # a fresh server: nobody opened Home
        run = s.open("Tools")
    assert not run.errors
    assert "Talk to models" in s.sections
