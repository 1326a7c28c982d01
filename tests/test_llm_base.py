"""The provider protocol's shared pieces: validation, options, joining a stream, keys, prices, the fake."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lab.core.errors import InputError, MissingKeyError, ProviderError
from lab.core.keys import redact, resolve_key
from lab.llm import Options, get_provider, pricing, run
from lab.llm.base import validate_messages
from lab.llm.fake import FakeProvider


def test_empty_and_oversized_prompts_are_refused():
    with pytest.raises(InputError, match="empty"):
        validate_messages([{"role": "user", "content": "   "}])
    with pytest.raises(InputError, match="nothing to send"):
        validate_messages([])
    with pytest.raises(InputError, match=r"12,000 characters.*10,000"):
        validate_messages([{"role": "user", "content": "x" * 12_000}], max_chars=10_000)
    with pytest.raises(InputError, match="role"):
        validate_messages([{"role": "wizard", "content": "hi"}])


@pytest.mark.parametrize(
    "bad",
    [
        {"temperature": 2.5},
        {"top_p": 0},
        {"max_tokens": 0},
        {"stop": [""]},
        {"stop": ["a", "b", "c", "d", "e"]},
        {"nonsense": 1},
    ],
)
def test_options_are_bounded(bad):
    with pytest.raises(ValidationError):
        Options(**bad)


def test_every_option_has_a_description_for_the_ui():
    assert all(f.description for f in Options.model_fields.values())


def test_run_joins_stream_and_records_calls():
    fake = FakeProvider(["The capital of France is Paris."])
    seen = []
    reply = run(fake, [{"role": "user", "content": "Capital?"}], on_text=seen.append)
    assert reply.text == "The capital of France is Paris." and "".join(seen) == reply.text
    assert reply.usage.completion_tokens == 6 and reply.usage.provider == "fake"
    assert fake.calls[0]["messages"] == [{"role": "user", "content": "Capital?"}]


def test_stream_error_keeps_partial_text():
    fake = FakeProvider([("Half an answer", ProviderError("connection dropped"))])
    with pytest.raises(ProviderError) as e:
        run(fake, [{"role": "user", "content": "Go"}])
    assert e.value.partial_text == "Half an answer"


def test_fake_tool_calls_and_assistant_message():
    fake = FakeProvider([{"tool_calls": [("get_ticket_price", {"destination_city": "Tokyo"})]}])
    reply = run(fake, [{"role": "user", "content": "How much to Tokyo?"}])
    msg = reply.assistant_message()
    assert msg["tool_calls"][0]["function"] == {
        "name": "get_ticket_price",
        "arguments": '{"destination_city": "Tokyo"}',
    }


def test_fake_without_script_says_so():
    with pytest.raises(InputError, match="no reply queued"):
        run(FakeProvider(), [{"role": "user", "content": "hi"}])


def test_keys_resolve_explicit_then_env_then_error(monkeypatch, no_keys):
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        resolve_key("openai")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env-123456")
    assert resolve_key("openai") == "sk-from-env-123456"
    assert resolve_key("openai", explicit="sk-explicit") == "sk-explicit"
    assert redact("bad key sk-from-env-123456 rejected") == "bad key *** rejected"


def test_prices():
    assert pricing.cost("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert pricing.cost("gpt-4o-mini-2024-07-18", 1000, 0) == pytest.approx(0.00015)  # prefix match
    assert pricing.cost("gpt-4o", 1000, 0) == pytest.approx(0.0025)  # not confused with gpt-4o-mini
    assert pricing.cost("mystery-model", 10, 10) is None
    assert pricing.cost("llama3.2", 10, 10, provider="ollama") == 0.0


def test_unknown_provider():
    with pytest.raises(InputError, match="Unknown provider"):
        get_provider("skynet")


def test_registry_lists_every_provider_and_builds_each_lazily():
    import importlib
    import inspect
    import subprocess
    import sys

    from lab.llm import PROVIDERS, REGISTRY

    assert PROVIDERS == tuple(REGISTRY) == ("local", "openai", "anthropic", "ollama", "openai-compatible", "fake")
    for name, target in REGISTRY.items():
        module, _, factory = target.partition(":")
        params = inspect.signature(getattr(importlib.import_module(module), factory)).parameters
        # every factory takes the same keywords (it uses those it needs): get_provider passes all five
        assert all(p.kind is p.KEYWORD_ONLY for p in params.values() if p.kind is not p.VAR_KEYWORD), name
        assert any(p.kind is p.VAR_KEYWORD for p in params.values()), name
    with pytest.raises(InputError, match="choose one of: local, openai, anthropic, ollama, openai-compatible, fake"):
        get_provider("skynet")
    with pytest.raises(InputError, match="Unknown provider"):
        get_provider(None)
    assert get_provider("fake", replies=["4"]).replies == ["4"]
    # naming the providers imports no SDK: a module is imported when its provider is asked for
    code = (
        "import sys, lab.llm; print(sorted(m for m in ('openai', 'anthropic', 'ollama', 'llama_cpp') "
        "if m in sys.modules))"
    )
    assert (
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
    )


def test_begin_is_the_shared_opening_of_stream():
    from lab.llm.base import DEFAULT_SYSTEM, Options, Timer, begin

    msgs = [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "Capital of France?"}]
    got, opts, timer = begin(msgs)
    assert got is msgs and opts == Options() and isinstance(timer, Timer) and timer.ttft is None
    mine = Options(temperature=0)
    assert begin(msgs, mine)[1] is mine
    with pytest.raises(InputError, match="empty"):
        begin([{"role": "user", "content": " "}])
    fake = FakeProvider(["Paris."])
    run(fake, msgs)
    assert fake.calls[0]["options"] is None  # the fake records what it was given


def test_one_openai_client_factory(tmp_settings):
    from lab.core.clients import openai_client

    c = openai_client(api_key="not-needed", base_url="http://127.0.0.1:9/v1", max_retries=1)
    assert (c.max_retries, c.timeout, str(c.base_url)) == (1, tmp_settings.request_timeout_s, "http://127.0.0.1:9/v1/")
    assert openai_client(api_key="k", timeout=5, max_retries=0).timeout == 5
    with pytest.raises(TypeError):
        openai_client(api_key="k")  # the retry count is each caller's decision: always said at the call
