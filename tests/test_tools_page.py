"""The Tools page, headless (AppTest): a scripted model over the wire server, and the local model offline."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
PAGE = str(ROOT / "app_pages" / "3_Tools.py")


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    """The wire server listens on loopback: a base URL typed in the page passes the address guard (lab/web.py)
    only with LAB_ALLOW_PRIVATE_URLS=1."""
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def page() -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120)


def on_wire(at: AppTest, wire) -> AppTest:
    """Point the page's provider picker at the loopback server (an OpenAI-compatible endpoint)."""
    at.run()
    at.selectbox(key="provider").set_value("openai-compatible").run()
    at.text_input(key="base_url_openai-compatible").set_value(wire.url + "/v1")
    return at


def test_page_shows_the_loop_step_by_step_and_the_booking(wire, tmp_settings, no_keys, monkeypatch):
    from lab.tools import flightai

    # the scripted replies book 1 May 2030: run on a day from which that date is in the booking window (2 years)
    monkeypatch.setattr(flightai, "today", lambda: datetime.date(2029, 6, 1))
    for step in ("one_call", "two_calls", "answer"):
        wire.queue(f"tools_openai_{step}.sse")
    at = on_wire(page(), wire)
    at.text_input(key="tools.q").set_value("Price to Paris, and book Ada Lovelace to Tokyo on 2030-05-01?")
    at.button(key="tools.ask").click().run()
    assert not at.exception
    bubbles = [m.markdown[0].value for m in at.chat_message]
    assert bubbles[-1].startswith("A return ticket to Paris is $899")
    labels = [e.label for e in at.expander]
    assert labels[:3] == [
        "Round 1: model asked for get_ticket_price",
        "Round 2: model asked for get_ticket_price, book_flight",
        "Round 3: model answered",
    ]
    assert "Full trace: 8 OpenAI-shaped messages" in labels
    ran = " ".join(m.value for m in at.markdown)
    assert "Lab ran** `book_flight` ✅ `ok`" in ran
    bookings = at.dataframe[-1].value
    assert list(bookings["passenger"]) == ["Ada Lovelace"] and list(bookings["price_usd"]) == [1400.0]
    # the request carried the tool schemas generated from the functions
    assert [t["function"]["name"] for t in wire.requests[0].json["tools"]] == ["get_ticket_price", "book_flight"]


def test_page_round_limit_and_unknown_tool(wire, tmp_settings, no_keys):
    wire.queue("tools_openai_unknown_tool.sse").queue("tools_openai_one_call.sse")
    at = on_wire(page(), wire)
    at.slider(key="tools.max_rounds").set_value(2)
    at.button(key="tools.ask").click().run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    assert "`get_weather` ❓ `unknown_tool`" in text and "`get_ticket_price` ⛔ `not_run`" in text
    assert any("Stopped at the round limit (2)" in w.value for w in at.warning)


def test_page_replays_the_question_on_a_frontier_model(wire, tmp_settings, no_keys, monkeypatch):
    at = on_wire(page(), wire)
    at.checkbox(key="tools.compare").check()
    wire.queue("tools_openai_answer.sse")
    at.button(key="tools.ask").click().run()
    assert any("Set OPENAI_API_KEY or ANTHROPIC_API_KEY" in i.value for i in at.info)  # no key: says how
    # with a key, the same question goes to OpenAI (here: the SDK's OPENAI_BASE_URL points at the wire server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.url + "/v1")
    wire.queue("tools_openai_answer.sse").queue("tools_openai_one_call.sse").queue("tools_openai_answer.sse")
    at.button(key="tools.ask").click().run()
    assert not at.exception
    assert any(h.value == "The same question with openai / gpt-4o-mini" for h in at.subheader)
    assert [r.json["model"] for r in wire.requests[-3:]] == ["local-model", "gpt-4o-mini", "gpt-4o-mini"]
    assert wire.requests[-2].headers["authorization"] == "Bearer sk-test"


def test_page_schemas_sources_prices_and_local_honesty(tmp_settings, no_keys):
    at = page()
    at.run()
    assert not at.exception
    assert "135M" in at.info[0].value and "JSON schema" in at.info[0].value
    sources = [c.value for c in at.code]
    assert any(
        s.lstrip().startswith("def get_ticket_price(self, origin: Origin, destination: Destination)") for s in sources
    )
    at.multiselect(key="tools.extras").set_value(["convert_currency"]).run()
    assert any("def convert_currency(" in c.value for c in at.code)
    at.button(key="tools.save_prices").click().run()
    assert at.success and "reads the new table" in at.success[0].value


def test_page_refuses_an_empty_question(tmp_settings, no_keys):
    at = page()
    at.run()
    at.text_input(key="tools.q").set_value("   ")
    at.button(key="tools.ask").click().run()
    assert at.warning and "Type a question first" in at.warning[0].value


@pytest.mark.slow
def test_page_works_offline_with_the_local_model(tmp_settings, no_keys):
    at = page()
    at.run()
    at.slider(key="tools.max_rounds").set_value(2)
    at.button(key="tools.ask").click().run(timeout=600)
    assert not at.exception
    assert at.expander[0].label.startswith("Round 1: model ")
    assert "Strategy: **constrained**" in " ".join(c.value for c in at.caption)


def test_page_shows_a_refused_call_and_the_reason_sent_back(wire, tmp_settings, no_keys):
    wire.queue("tools_openai_bad_args.sse").queue("tools_openai_answer.sse")
    at = on_wire(page(), wire)
    at.button(key="tools.ask").click().run()
    assert not at.exception
    assert "`get_ticket_price` ⚠️ `invalid_arguments`" in " ".join(m.value for m in at.markdown)
    sent_back = [m for m in wire.requests[1].json["messages"] if m["role"] == "tool"]
    assert len(sent_back) == 1 and "invalid arguments for get_ticket_price" in sent_back[0]["content"]
