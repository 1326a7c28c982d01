"""Each remote adapter through its real SDK client, against recorded wire bytes on a loopback server.

For every provider: streaming and non-streaming parse to the same text and usage; the request body the SDK
sent carries our options; errors (bad key, server down, timeout, a stream that breaks) become the lab's
exception types with messages that name the fix.
"""

from __future__ import annotations

import pytest

from lab.core.errors import AuthError, LabError, MissingKeyError, ProviderTimeout, ProviderUnavailable
from lab.llm import Options, get_provider, run

Q = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is the capital of France?"}]


def openai(wire):
    return get_provider("openai", api_key="sk-test", base_url=wire.url + "/v1")


def anthropic(wire):
    return get_provider("anthropic", api_key="sk-ant-test", base_url=wire.url)


def ollama(wire):
    return get_provider("ollama", base_url=wire.url)


CASES = {  # provider factory, streaming fixture, non-streaming fixture, expected usage (in, out)
    "openai": (openai, "openai_chat_stream.sse", "openai_chat.json", (14, 8)),
    "anthropic": (anthropic, "anthropic_stream.sse", "anthropic_messages.json", (18, 10)),
    "ollama": (ollama, "ollama_chat_stream.ndjson", "ollama_chat.json", (31, 8)),
}


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("stream", [True, False])
def test_reply_text_and_usage(wire, name, stream):
    make, sse, js, (pt, ct) = CASES[name]
    wire.queue(sse if stream else js)
    pieces = []
    reply = run(
        make(wire), Q, options=Options(temperature=0.2, max_tokens=50, seed=7, stream=stream), on_text=pieces.append
    )
    assert reply.text == "The capital of France is Paris."
    assert len(pieces) == (3 if name != "anthropic" else 2) if stream else len(pieces) == 1
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens) == (pt, ct)
    assert reply.usage.provider == name
    assert reply.usage.ttft_s is not None and reply.usage.total_s >= reply.usage.ttft_s


def test_openai_request_body(wire):
    wire.queue("openai_chat_stream.sse")
    run(
        openai(wire),
        Q,
        model="gpt-4o-mini",
        options=Options(temperature=0.2, top_p=0.9, max_tokens=50, seed=7, stop=["\n\n"], json_mode=True),
    )
    req = wire.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == "Bearer sk-test"
    body = req.json
    assert body["messages"] == Q and body["model"] == "gpt-4o-mini" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert (body["temperature"], body["top_p"], body["max_tokens"], body["seed"]) == (0.2, 0.9, 50, 7)
    assert body["stop"] == ["\n\n"] and body["response_format"] == {"type": "json_object"}


def test_openai_cost_from_price_table(wire):
    wire.queue("openai_chat.json")
    reply = run(openai(wire), Q, model="gpt-4o-mini", options=Options(stream=False))
    assert reply.usage.cost_usd == pytest.approx(14 * 0.15e-6 + 8 * 0.60e-6)


def test_anthropic_request_body_moves_system_and_requires_max_tokens(wire):
    wire.queue("anthropic_stream.sse")
    run(anthropic(wire), Q, options=Options(max_tokens=64, stop=["END"]))
    req = wire.requests[-1]
    assert req.path == "/v1/messages" and req.headers["authorization"] == "Bearer sk-ant-test"
    assert "anthropic-version" in req.headers
    body = req.json
    assert body["system"] == "Be brief."
    assert body["messages"] == [{"role": "user", "content": "What is the capital of France?"}]
    assert body["max_tokens"] == 64 and body["stop_sequences"] == ["END"] and body["stream"] is True


def test_ollama_request_body(wire):
    wire.queue("ollama_chat_stream.ndjson")
    run(ollama(wire), Q, model="llama3.2", options=Options(temperature=0.1, max_tokens=20, seed=3))
    req = wire.requests[-1]
    assert req.path == "/api/chat"
    body = req.json
    assert body["model"] == "llama3.2" and body["stream"] is True
    assert body["options"]["num_predict"] == 20 and body["options"]["seed"] == 3
    assert body["messages"][1]["content"] == "What is the capital of France?"


def test_openai_tool_call_fragments_are_assembled(wire):
    wire.queue("openai_tool_stream.sse")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_ticket_price",
                "description": "Price of a ticket",
                "parameters": {"type": "object", "properties": {"destination_city": {"type": "string"}}},
            },
        }
    ]
    reply = run(openai(wire), Q, tools=tools)
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("call_Xa1", "get_ticket_price", '{"destination_city": "Paris"}')
    ]
    assert wire.requests[-1].json["tools"] == tools


def test_anthropic_tool_use_blocks(wire):
    wire.queue("anthropic_tool_stream.sse")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_ticket_price",
                "description": "Price of a ticket",
                "parameters": {"type": "object", "properties": {"destination_city": {"type": "string"}}},
            },
        }
    ]
    reply = run(anthropic(wire), Q, tools=tools)
    assert reply.text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("toolu_01A", "get_ticket_price", '{"destination_city": "Paris"}')
    ]
    assert wire.requests[-1].json["tools"][0]["input_schema"]["properties"] == {"destination_city": {"type": "string"}}


@pytest.mark.parametrize(
    "name,fixture", [("openai", "openai_error_401.json"), ("anthropic", "anthropic_error_401.json")]
)
def test_wrong_key_is_an_auth_error_naming_the_variable(wire, name, fixture):
    wire.queue(fixture, status=401)
    with pytest.raises(AuthError) as e:
        run(CASES[name][0](wire), Q)
    assert ("OPENAI_API_KEY" if name == "openai" else "ANTHROPIC_API_KEY") in str(e.value)


def test_server_error_keeps_its_message(wire):
    wire.queue(status=500, body=b'{"error": {"message": "The server had an error", "type": "server_error"}}')
    with pytest.raises(LabError, match="HTTP 500.*server had an error"):
        run(openai(wire), Q)


@pytest.mark.parametrize("name", ["openai", "anthropic", "ollama"])
def test_server_down_is_unavailable(name):
    # port 9 on loopback: nothing listens there
    make = {
        "openai": lambda: get_provider("openai", api_key="k", base_url="http://127.0.0.1:9/v1"),
        "anthropic": lambda: get_provider("anthropic", api_key="k", base_url="http://127.0.0.1:9"),
        "ollama": lambda: get_provider("ollama", base_url="http://127.0.0.1:9"),
    }[name]
    with pytest.raises(ProviderUnavailable, match="127.0.0.1:9"):
        run(make(), Q)


def test_timeout(wire, monkeypatch):
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_REQUEST_TIMEOUT_S", "0.3")
    get_settings.cache_clear()
    try:
        wire.queue("openai_chat.json", delay_s=1.5)
        with pytest.raises(ProviderTimeout):
            run(openai(wire), Q, options=Options(stream=False))
    finally:
        get_settings.cache_clear()


def test_stream_that_breaks_keeps_what_arrived(wire):
    wire.queue("openai_chat_stream.sse", cut_after=3)
    with pytest.raises(LabError) as e:
        run(openai(wire), Q)
    assert e.value.partial_text == "The capital of France"


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_missing_key_names_the_variable(no_keys, name):
    with pytest.raises(MissingKeyError, match=("OPENAI_API_KEY" if name == "openai" else "ANTHROPIC_API_KEY")):
        get_provider(name)


def test_openai_compatible_needs_no_key(wire, no_keys):
    wire.queue("openai_chat.json")
    p = get_provider("openai-compatible", base_url=wire.url + "/v1", model="smollm2")
    assert run(p, Q, options=Options(stream=False)).text.endswith("Paris.")
    assert wire.requests[-1].json["model"] == "smollm2"
