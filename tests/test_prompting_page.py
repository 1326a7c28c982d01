"""The Prompting page, headless with AppTest: SmolLM2 offline for chat, structured output and next-token tables;
the loopback wire server (real openai SDK) for memory, comparison and the brochure against a fake site."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGE = str(Path(__file__).resolve().parent.parent / "app_pages" / "1_Prompting.py")


def page(max_tokens: int = 40) -> AppTest:
    at = AppTest.from_file(PAGE, default_timeout=240).run()
    assert not at.exception
    at.number_input(key="prompting.Options.max_tokens").set_value(max_tokens)
    at.text_input(key="prompting.Options.seed").set_value("0")
    at.slider(key="prompting.Options.temperature").set_value(0.0)  # greedy: SmolLM2 is reproducible then
    return at


def texts(at) -> str:
    return "\n".join(m.value for m in at.markdown)


def all_json(at) -> str:
    return "\n".join(j.value for j in at.json)


def use_wire(at, wire):
    at.selectbox(key="provider").set_value("openai-compatible").run()
    at.text_input(key="base_url_openai-compatible").set_value(wire.url + "/v1")
    at.text_input(key="model_openai-compatible").set_value("gpt-4o-mini")
    return at


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    """The wire server listens on loopback: a base URL typed in the page passes the address guard only with
    LAB_ALLOW_PRIVATE_URLS=1 (tests/test_trust_keys.py checks the refusal without it)."""
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


@pytest.fixture
def settings_env(monkeypatch):
    from lab.core.settings import get_settings

    def set_private(on: bool):
        monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1" if on else "0")
        get_settings.cache_clear()

    yield set_private
    get_settings.cache_clear()


@pytest.mark.slow
def test_chat_with_smollm2_streams_an_answer_with_usage_and_messages():
    at = page()
    at.text_area(key="chat.user").set_value("What is the capital of France?")
    at.button(key="chat.send").click().run()
    assert not at.exception and not at.error
    assert "Paris" in texts(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Tokens out"]) > 0 and metrics["Cost"] == "$0.00000"
    assert '"What is the capital of France?"' in all_json(at)  # the exact messages sent


@pytest.mark.slow
def test_structured_output_from_smollm2_validates():
    at = page(max_tokens=60)
    at.radio(key="so.kind").set_value("Your own fields").run()
    at.text_area(key="so.fields").set_value("city: str  # the city's name\ncountry: str")
    at.text_area(key="so.user.Your own fields").set_value("Give the capital of France as JSON.")
    at.button(key="so.send").click().run()
    assert not at.exception and not at.error
    assert at.success[0].value.startswith("Parsed and validated")
    value = json.loads(at.json[-1].value)
    assert set(value) == {"city", "country"} and all(isinstance(v, str) for v in value.values())


@pytest.mark.slow
def test_next_token_candidates_table():
    at = page()
    at.slider(key="nt.k").set_value(3)
    at.slider(key="nt.steps").set_value(3)
    at.button(key="nt.send").click().run()
    assert not at.exception and not at.error
    table = at.dataframe[-1].value
    assert list(table["step"]) == [1, 2, 3] and {"chosen", "p(chosen)", "#1", "#2", "#3"} <= set(table.columns)
    assert all(0 < p <= 1 for p in table["p(chosen)"])


def test_shot_styles_change_the_messages_shown():
    at = page()
    shown = json.loads(at.tabs[1].json[0].value)
    assert [m["role"] for m in shown] == ["system", "user", "assistant", "user"]  # one-shot as turns
    at.radio(key="shots.style").set_value("system").run()
    shown = json.loads(at.tabs[1].json[0].value)
    assert [m["role"] for m in shown] == ["system", "user"] and "Examples:" in shown[0]["content"]
    at.slider(key="shots.n").set_value(0).run()
    assert len(json.loads(at.tabs[1].json[0].value)) == 2 and "zero-shot" in at.tabs[1].caption[0].value


def test_empty_prompt_is_explained_not_crashed():
    at = page()
    at.text_area(key="chat.user").set_value("   ")
    at.button(key="chat.send").click().run()
    assert not at.exception and "empty" in at.error[0].value


def test_a_stream_that_breaks_keeps_what_arrived_and_shows_the_error(wire):
    at = use_wire(page(), wire)
    wire.queue("openai_chat_stream.sse", cut_after=3)  # "The capital of France" then the connection drops
    at.button(key="chat.send").click().run()
    assert not at.exception
    assert "The capital of France" in texts(at) and "is Paris" not in texts(at)
    assert at.tabs[0].error and "openai-compatible" in at.tabs[0].error[0].value


def test_memory_resends_history_and_injects_the_belt_rule(wire):
    at = use_wire(page(), wire)
    wire.queue("openai_chat_stream.sse").queue("openai_chat_stream.sse")
    at.button(key="memory.send").click().run()
    at.text_input(key="memory.user").set_value("And hats?")
    at.button(key="memory.send").click().run()
    assert not at.exception and not at.error
    first, second = (r.json["messages"] for r in wire.requests)
    assert [m["role"] for m in first] == ["system", "system", "user"]
    assert first[1]["content"].startswith("The store does not sell belts")
    assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]  # history re-sent, no belt now
    assert len(at.chat_message) == 4 and "of a 128,000-token context window" in at.tabs[2].get("progress")[0].proto.text


def test_compare_two_models_one_without_a_key(wire, no_keys):
    at = use_wire(page(), wire)
    wire.queue("openai_chat_stream.sse")
    at.selectbox(key="cmp.provider.0").set_value("openai-compatible").run()
    at.selectbox(key="cmp.provider.1").set_value("openai").run()
    at.button(key="cmp.send").click().run()
    assert not at.exception
    table = at.tabs[4].dataframe[0].value
    assert list(table["tokens_out"])[0] == 8 and list(table["tokens_in"])[0] == 14
    assert "OPENAI_API_KEY" in table["error"][1] and "OPENAI_API_KEY" in at.tabs[4].error[0].value


def test_brochure_against_the_fake_site(acme, wire, settings_env):
    settings_env(True)
    at = use_wire(page(), wire)
    wire.queue("prompting_links.sse").queue("prompting_brochure.sse")
    at.text_input(key="bro.url").set_value(acme.url + "/")
    at.button(key="bro.send").click().run()
    assert not at.exception and not at.error
    assert "Acme builds reusable rockets in Toulouse." in texts(at)
    assert acme.hits == ["/", "/about", "/careers"]
    assert "ALLOWED" in at.tabs[5].caption[0].value


def test_summary_of_the_fake_site(acme, wire, settings_env):
    settings_env(True)
    at = use_wire(page(), wire)
    wire.queue("openai_chat_stream.sse")
    at.text_input(key="bro.url").set_value(acme.url + "/")
    at.button(key="bro.summary").click().run()
    assert not at.exception and not at.error
    assert "The capital of France is Paris." in texts(at)  # what the wire fixture says
    assert "Reusable rockets for small satellites." in wire.requests[0].json["messages"][1]["content"]


def test_brochure_refuses_loopback_when_the_setting_is_off(acme, settings_env):
    settings_env(False)
    at = page()
    at.text_input(key="bro.url").set_value(acme.url + "/")
    at.button(key="bro.send").click().run()
    assert not at.exception and "loopback" in at.error[0].value and acme.hits == []
