"""The tool loop through the real OpenAI and Anthropic SDK clients, against scripted wire bytes on loopback.

Each scenario queues several responses in order (tests/wire/tools_{openai,anthropic}_*.sse) and then checks
both what the loop did (trace, database) and what the SDK put on the wire on each request: the tools
offered, and the tool results sent back (``tool`` messages for OpenAI, ``tool_result`` blocks for Anthropic).
"""

from __future__ import annotations

import datetime
import json

import pytest

from lab.llm import get_provider
from lab.tools import flightai

FORMATS = {
    "openai": (lambda w: get_provider("openai", api_key="sk-test", base_url=w.url + "/v1"), "call_"),
    "anthropic": (lambda w: get_provider("anthropic", api_key="sk-ant-test", base_url=w.url), "toolu_"),
}
QUESTION = "How much is a ticket from London to Paris? And book Ada Lovelace to Tokyo on 2030-05-01."


@pytest.fixture
def db(tmp_path, monkeypatch):
    # The scripted replies book 1 May 2030; the booking window is today..today+2 years, so these tests run on a
    # day from which that date is bookable (the validator reads lab.tools.flightai.today()).
    monkeypatch.setattr(flightai, "today", lambda: datetime.date(2029, 6, 1))
    return flightai.FlightDB(tmp_path / "flightai.db")


def sent_calls(fmt: str, body: dict) -> list[tuple[str, str, dict]]:
    """(id, name, arguments) of every tool call in the conversation as the SDK sent it."""
    if fmt == "openai":
        return [
            (tc["id"], tc["function"]["name"], json.loads(tc["function"]["arguments"]))
            for m in body["messages"]
            if m["role"] == "assistant"
            for tc in m.get("tool_calls") or []
        ]
    return [
        (b["id"], b["name"], b["input"])
        for m in body["messages"]
        if m["role"] == "assistant" and isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "tool_use"
    ]


def sent_results(fmt: str, body: dict) -> list[tuple[str, str]]:
    """(call id, content) of every tool result sent back."""
    if fmt == "openai":
        return [(m["tool_call_id"], m["content"]) for m in body["messages"] if m["role"] == "tool"]
    return [
        (b["tool_use_id"], b["content"])
        for m in body["messages"]
        if m["role"] == "user" and isinstance(m["content"], list)
        for b in m["content"]
        if b["type"] == "tool_result"
    ]


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_call_then_two_at_once_then_answer(wire, db, fmt):
    make, prefix = FORMATS[fmt]
    for step in ("one_call", "two_calls", "answer"):
        wire.queue(f"tools_{fmt}_{step}.sse")
    result = flightai.ask(make(wire), QUESTION, db=db)

    assert result.stopped == "answer" and result.strategy == "native"
    assert (
        result.answer
        == "A return ticket to Paris is $899, and Ada Lovelace is booked to Tokyo on 1 May 2030 (booking 1, $1,400)."
    )
    assert [m["role"] for m in result.messages] == [
        "system",
        "user",
        "assistant",
        "tool",
        "assistant",
        "tool",
        "tool",
        "assistant",
    ]
    a, b1, b2 = prefix + "A1", prefix + "B1", prefix + "B2"
    assert [c.id for r in result.rounds for c in r.calls] == [a, b1, b2]
    assert all(c.status == "ok" for r in result.rounds for c in r.calls)
    # the booking really happened, with the price from the table
    (row,) = db.bookings()
    assert (row["passenger"], row["origin"], row["destination"], row["date"], row["price_usd"]) == (
        "Ada Lovelace",
        "London",
        "Tokyo",
        "2030-05-01",
        1400.0,
    )

    first, second, third = (r.json for r in wire.requests)
    assert len(wire.requests) == 3
    schemas = flightai.registry(db).schemas()
    if fmt == "openai":
        assert first["tools"] == schemas and first["messages"][0] == {
            "role": "system",
            "content": flightai.SYSTEM_PROMPT,
        }
    else:
        assert [t["input_schema"] for t in first["tools"]] == [s["function"]["parameters"] for s in schemas]
        assert first["system"] == flightai.SYSTEM_PROMPT
        # the text the model said before its tool_use block goes back with it
        assert second["messages"][1]["content"][0] == {"type": "text", "text": "I'll check the fare."}
    paris = json.dumps({"origin": "London", "destination": "Paris", "price_usd": 899.0})
    assert sent_calls(fmt, second) == [(a, "get_ticket_price", {"origin": "London", "destination": "Paris"})]
    assert sent_results(fmt, second) == [(a, paris)]
    assert [c[:2] for c in sent_calls(fmt, third)] == [
        (a, "get_ticket_price"),
        (b1, "get_ticket_price"),
        (b2, "book_flight"),
    ]
    results = sent_results(fmt, third)
    assert [r[0] for r in results] == [a, b1, b2]
    assert json.loads(results[2][1])["booking_id"] == 1 and json.loads(results[1][1])["price_usd"] == 1400.0
    if fmt == "anthropic":  # two results of one turn travel together in one user message
        assert [b["tool_use_id"] for b in third["messages"][-1]["content"]] == [b1, b2]
        assert third["messages"][-1]["role"] == "user"


@pytest.mark.parametrize("fmt", FORMATS)
def test_unknown_tool_is_told_and_the_loop_goes_on(wire, db, fmt):
    make, prefix = FORMATS[fmt]
    wire.queue(f"tools_{fmt}_unknown_tool.sse").queue(f"tools_{fmt}_answer.sse")
    result = flightai.ask(make(wire), "What's the weather in Paris?", db=db)
    (call,) = result.rounds[0].calls
    assert call.status == "unknown_tool" and call.name == "get_weather"
    assert (
        call.content == "Error: there is no tool named 'get_weather'. Available tools: get_ticket_price, book_flight."
    )
    assert sent_results(fmt, wire.requests[1].json) == [(prefix + "U1", call.content)]
    assert result.stopped == "answer" and len(wire.requests) == 2


@pytest.mark.parametrize("fmt", FORMATS)
def test_bad_arguments_are_explained_to_the_model(wire, db, fmt):
    make, prefix = FORMATS[fmt]
    wire.queue(f"tools_{fmt}_bad_args.sse").queue(f"tools_{fmt}_answer.sse")
    result = flightai.ask(make(wire), "Price to Paris?", db=db)
    (call,) = result.rounds[0].calls
    assert call.status == "invalid_arguments"
    for part in (
        "invalid arguments for get_ticket_price",
        "origin: Field required",
        "destination: Field required",
        "city: Extra inputs are not permitted",
        '"required": ["origin", "destination"]',
    ):
        assert part in call.content
    assert sent_results(fmt, wire.requests[1].json) == [(prefix + "V1", call.content)]
    assert result.stopped == "answer"


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_limit_stops_a_model_that_keeps_calling(wire, db, fmt):
    make, prefix = FORMATS[fmt]
    for _ in range(3):
        wire.queue(f"tools_{fmt}_one_call.sse")
    result = flightai.ask(make(wire), "Price to Paris?", db=db, max_rounds=2)
    assert result.stopped == "max_rounds" and result.answer == ""
    assert len(wire.requests) == 2  # no third request, although a third reply was queued
    assert [c.status for r in result.rounds for c in r.calls] == ["ok", "not_run"]
    # the unrun call still gets its tool message, so a follow-up question sends a valid conversation
    assert result.messages[-1] == {
        "role": "tool",
        "tool_call_id": prefix + "A1",
        "content": "Not run: the lab stopped after 2 rounds (the round limit).",
    }


def test_ollama_tools_through_its_client(wire, db):
    """Ollama's native API: tool arguments are objects, and calls carry no ids (the adapter makes them)."""
    wire.queue("tools_ollama_one_call.ndjson").queue("tools_ollama_answer.ndjson")
    result = flightai.ask(get_provider("ollama", base_url=wire.url), "Price from London to Paris?", db=db)
    assert result.answer == "A return ticket from London to Paris costs $899."
    (call,) = result.rounds[0].calls
    assert call.status == "ok" and json.loads(call.content)["price_usd"] == 899.0
    first, second = (r.json for r in wire.requests)
    assert [t["function"]["name"] for t in first["tools"]] == ["get_ticket_price", "book_flight"]
    assert second["messages"][2]["tool_calls"] == [
        {"function": {"name": "get_ticket_price", "arguments": {"origin": "London", "destination": "Paris"}}}
    ]
    assert second["messages"][3]["role"] == "tool" and second["messages"][3]["content"] == call.content
