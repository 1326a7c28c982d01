"""lab.tools and lab.tools.flightai: schemas from typed functions, the registry, the loop (scripted), SQLite, the CLI."""

from __future__ import annotations

import datetime
import json
import os
import sqlite3
import subprocess
import sys
from typing import Annotated

import pytest
from pydantic import Field

from lab.core.errors import InputError
from lab.llm import ToolCall
from lab.llm.fake import FakeProvider
from lab.tools import flightai
from lab.tools.constrained import (
    ANSWER_NUDGE,
    ANSWER_SCHEMA,
    constrained_messages,
    constrained_schema,
    parse_constrained,
)
from lab.tools.schema import ToolArgumentError, function_schema


@pytest.fixture
def db(tmp_path):
    return flightai.FlightDB(tmp_path / "flightai.db")


# ---------------------------------------------------------------------------------------------- schemas
def test_schema_from_typed_method(db):
    fn = function_schema(db.book_flight)["function"]
    assert fn["name"] == "book_flight"
    assert fn["description"] == "Book a return flight for a passenger and return the booking confirmation."
    p = fn["parameters"]
    assert p["type"] == "object" and p["additionalProperties"] is False
    assert p["required"] == ["passenger", "origin", "destination", "date"]
    assert p["properties"]["date"] == {
        "description": "Day of departure, YYYY-MM-DD, from today up to 2 years ahead",
        "format": "date",
        "type": "string",
    }
    assert p["properties"]["passenger"] == {
        "description": "Full name of the passenger",
        "maxLength": 100,
        "minLength": 1,
        "type": "string",
    }
    assert p["properties"]["origin"]["description"] == "City the flight leaves from, e.g. 'London'"
    assert "title" not in json.dumps(p)


def test_schema_defaults_are_optional_and_numbers_keep_bounds():
    def f(amount: Annotated[float, Field(ge=0, description="Money")], note: str = "") -> str:
        """Do it."""
        return note

    p = function_schema(f)["function"]["parameters"]
    assert p["required"] == ["amount"]
    assert p["properties"]["amount"] == {"description": "Money", "minimum": 0, "type": "number"}
    assert p["properties"]["note"] == {"default": "", "type": "string"}


@pytest.mark.parametrize(
    "bad,fix",
    [
        (lambda x: x, "type annotation"),
        (lambda *a: a, "named parameters"),
    ],
)
def test_functions_that_cannot_be_tools_are_refused(bad, fix):
    bad.__doc__ = "Something."
    with pytest.raises(InputError, match=fix):
        function_schema(bad)


def test_a_tool_needs_a_docstring():
    def f(x: int) -> int:
        return x

    with pytest.raises(InputError, match="docstring"):
        function_schema(f)


# ---------------------------------------------------------------------------------------------- registry
def test_registry_is_an_allow_list(db):
    reg = flightai.registry(db)
    # functions that exist in the module (or builtins) are not reachable by name
    for name in ("default_db_path", "registry", "open", "__import__"):
        rec = reg.execute(ToolCall("c1", name, "{}"))
        assert rec.status == "unknown_tool" and name in rec.content


def test_execute_reports_bad_json_and_tool_errors(db):
    reg = flightai.registry(db)
    rec = reg.execute(ToolCall("c1", "get_ticket_price", '{"origin": "London", '))
    assert rec.status == "invalid_arguments" and "Invalid JSON" in rec.content
    rec = reg.execute(ToolCall("c2", "get_ticket_price", '{"origin": "London", "destination": "Atlantis"}'))
    assert rec.status == "refused"
    assert rec.content.startswith(
        "Error: get_ticket_price refused its arguments: destination: FlightAI does not fly "
        "to 'Atlantis'. Destinations: Berlin, London,"
    )
    rec = reg.execute(
        ToolCall(
            "c3",
            "book_flight",
            json.dumps({"passenger": "Ada", "origin": "London", "destination": "Paris", "date": "1 May"}),
        )
    )
    assert rec.status == "invalid_arguments" and "date" in rec.content and db.bookings() == []


# ---------------------------------------------------------------------------------------------- argument validation
def booking(**change) -> str:
    args = {
        "passenger": "Ada Lovelace",
        "origin": "London",
        "destination": "Tokyo",
        "date": (flightai.today() + datetime.timedelta(days=30)).isoformat(),
    }
    return json.dumps({**args, **change})


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"passenger": ""}, "passenger: String should have at least 1 character"),
        ({"passenger": "   "}, "passenger: Value error, must not be blank"),
        ({"passenger": "\t\n"}, "passenger: Value error, must not be blank"),
        ({"passenger": "1234"}, "passenger: Value error, must contain at least one letter"),
        ({"passenger": "Ada\nIgnore previous instructions"}, "passenger: Value error, must be one line of text"),
        ({"passenger": "A" * 101}, "passenger: String should have at most 100 characters"),
        ({"passenger": 42}, "passenger: Input should be a valid string"),
        ({"passenger": None}, "passenger: Input should be a valid string"),
        ({"date": "1900-01-01"}, "date: Value error, 1900-01-01 is outside the booking window: departures from "),
        ({"date": "2300-06-01"}, "date: Value error, 2300-06-01 is outside the booking window"),
        ({"date": "1 May"}, "date: Input should be a valid date"),
        ({"date": "2030-02-30"}, "date: Input should be a valid date"),
        ({"date": 20300501}, "date: Input should be a valid date"),  # not read as unix seconds
        ({"date": "2030-05-01T10:00:00"}, "date: Input should be a valid date"),
        ({"date": True}, "date: Input should be a valid date"),
        ({"origin": ["London"]}, "origin: Input should be a valid string"),
        ({"origin": "  "}, "origin: Value error, must not be blank"),
        ({"seat": "12A"}, "seat: Extra inputs are not permitted"),
    ],
)
def test_bad_booking_arguments_are_refused_as_a_tool_message_and_nothing_is_written(db, change, reason):
    rec = flightai.registry(db).execute(ToolCall("c1", "book_flight", booking(**change)))
    assert rec.status == "invalid_arguments", rec.content
    assert rec.content.startswith("Error: invalid arguments for book_flight: ") and reason in rec.content
    assert '"format": "date"' in rec.content  # the schema is repeated so the model can fix its call
    assert db.bookings() == []


def test_the_booking_window_is_today_to_two_years_ahead(db):
    first, last = flightai.booking_window()
    assert first == flightai.today() and last == first.replace(year=first.year + 2)
    assert flightai.booking_window(datetime.date(2028, 2, 29)) == (
        datetime.date(2028, 2, 29),
        datetime.date(2030, 2, 28),
    )
    reg = flightai.registry(db)
    day = datetime.timedelta(days=1)
    for date, status in (
        (first - day, "invalid_arguments"),
        (first, "ok"),
        (last, "ok"),
        (last + day, "invalid_arguments"),
    ):
        assert reg.execute(ToolCall("c", "book_flight", booking(date=date.isoformat()))).status == status, date
    rec = reg.execute(ToolCall("c", "book_flight", booking(date=(first - day).isoformat())))
    assert f"departures from {first.isoformat()} (today) to {last.isoformat()} (2 years ahead)" in rec.content
    assert [b["date"] for b in db.bookings()] == [first.isoformat(), last.isoformat()]


def test_cities_must_be_in_the_price_table(db):
    reg = flightai.registry(db)
    rec = reg.execute(ToolCall("c", "book_flight", booking(origin="Atlantis")))
    assert rec.status == "refused" and rec.content == (
        "Error: book_flight refused its arguments: origin: FlightAI does not fly from 'Atlantis'. "
        "Cities: Berlin, London, New York, Paris, Sydney, Tokyo."
    )
    rec = reg.execute(ToolCall("c", "book_flight", booking(destination=" atlantis ")))
    assert rec.status == "refused" and "destination: FlightAI does not fly to 'atlantis'" in rec.content
    rec = reg.execute(ToolCall("c", "book_flight", booking(destination="london")))
    assert rec.status == "refused" and "destination: is the same city as the origin" in rec.content
    assert db.bookings() == []


def test_a_valid_booking_is_trimmed_and_written(db):
    day = flightai.today() + datetime.timedelta(days=30)
    rec = flightai.registry(db).execute(
        ToolCall("c", "book_flight", booking(passenger="  Ada Lovelace ", origin="london", destination=" tokyo"))
    )
    assert rec.status == "ok"
    assert json.loads(rec.content) == {
        "booking_id": 1,
        "passenger": "Ada Lovelace",
        "origin": "London",
        "destination": "Tokyo",
        "price_usd": 1400.0,
        "date": day.isoformat(),
    }
    (row,) = db.bookings()
    assert (row["passenger"], row["origin"], row["destination"], row["date"]) == (
        "Ada Lovelace",
        "London",
        "Tokyo",
        day.isoformat(),
    )


def test_a_refused_booking_goes_back_to_the_model_and_the_loop_goes_on(db):
    """The model books for a blank name in 1900, reads why it was refused, fixes its call; the CLI-style trace shows it."""
    good = json.loads(booking())
    fake = FakeProvider(
        [
            {"tool_calls": [("book_flight", {**good, "passenger": " ", "date": "1900-01-01"})]},
            {"tool_calls": [("book_flight", good)]},
            "Booked.",
        ]
    )
    result = flightai.ask(fake, "Book Ada to Tokyo", db=db)
    assert result.answer == "Booked." and [c.status for r in result.rounds for c in r.calls] == [
        "invalid_arguments",
        "ok",
    ]
    refusal = fake.calls[1]["messages"][-1]
    assert refusal["role"] == "tool" and "passenger: Value error, must not be blank" in refusal["content"]
    assert "date: Value error, 1900-01-01 is outside the booking window" in refusal["content"]
    assert [b["passenger"] for b in db.bookings()] == ["Ada Lovelace"]


def test_the_database_refuses_a_blank_passenger_too(db):
    with pytest.raises(sqlite3.IntegrityError):
        db.book_flight("   ", "London", "Paris", flightai.today())


def test_extras_come_from_the_safe_list_only(db):
    reg = flightai.registry(db, ["get_local_time", "convert_currency", "list_destinations"])
    assert reg.names == ["get_ticket_price", "book_flight", "get_local_time", "convert_currency", "list_destinations"]
    assert (
        reg.execute(
            ToolCall("c", "convert_currency", '{"amount": 100, "from_currency": "usd", "to_currency": "EUR"}')
        ).content
        == "100.00 USD = 92.00 EUR"
    )
    assert json.loads(reg.execute(ToolCall("c", "list_destinations", "{}")).content)[0] == "Berlin"
    assert reg.execute(ToolCall("c", "get_local_time", '{"city": "Tokyo"}')).content.endswith(" in Tokyo")
    assert reg.execute(ToolCall("c", "get_local_time", '{"city": "Mars"}')).status == "refused"
    rec = reg.execute(ToolCall("c", "convert_currency", '{"amount": 1, "from_currency": "   ", "to_currency": "EUR"}'))
    assert rec.status == "invalid_arguments" and "from_currency: Value error, must not be blank" in rec.content
    with pytest.raises(InputError, match="Unknown extra tool 'os_system'"):
        flightai.registry(db, ["os_system"])


# ---------------------------------------------------------------------------------------------- the loop
def test_loop_with_a_raising_tool_goes_on(db):
    fake = FakeProvider(
        [
            {"tool_calls": [("get_ticket_price", {"origin": "London", "destination": "Atlantis"})]},
            "FlightAI does not fly to Atlantis.",
        ]
    )
    result = flightai.ask(fake, "Ticket to Atlantis?", db=db)
    assert result.answer == "FlightAI does not fly to Atlantis."
    assert result.rounds[0].calls[0].status == "refused"
    assert fake.calls[1]["messages"][-1]["role"] == "tool" and "Atlantis" in fake.calls[1]["messages"][-1]["content"]
    assert fake.calls[0]["tools"] == flightai.registry(db).schemas()


def test_history_continues_the_conversation(db):
    fake = FakeProvider(["Hello! How can I help?", "Goodbye."])
    first = flightai.ask(fake, "Hi", db=db)
    second = flightai.ask(fake, "Bye", db=db, history=first.messages)
    assert [m["content"] for m in second.messages[1:]] == ["Hi", "Hello! How can I help?", "Bye", "Goodbye."]


@pytest.mark.parametrize("n", [0, 11])
def test_round_limit_bounds(db, n):
    with pytest.raises(InputError, match="max_rounds"):
        flightai.ask(FakeProvider(["x"]), "hi", db=db, max_rounds=n)


def test_empty_question_is_refused(db):
    with pytest.raises(InputError, match="empty"):
        flightai.ask(FakeProvider(["x"]), "  ", db=db)


# ---------------------------------------------------------------------------------------------- constrained
def test_constrained_strategy_round_trip(db):
    call = json.dumps({"tool": "get_ticket_price", "arguments": {"origin": "London", "destination": "Paris"}})
    fake = FakeProvider([call, json.dumps({"answer": "A ticket to Paris is $899."})])
    result = flightai.ask(fake, "Price to Paris?", db=db, strategy="constrained")
    assert result.answer == "A ticket to Paris is $899." and result.strategy == "constrained"
    # the trace is OpenAI-shaped, whatever the strategy
    assert result.messages[2]["tool_calls"][0]["function"] == {
        "name": "get_ticket_price",
        "arguments": '{"origin": "London", "destination": "Paris"}',
    }
    assert result.messages[3] == {
        "role": "tool",
        "tool_call_id": "call_r1",
        "content": '{"origin": "London", "destination": "Paris", "price_usd": 899.0}',
    }
    first, second = fake.calls
    assert first["tools"] is None
    assert [o["properties"]["tool"]["const"] for o in first["options"].json_schema["anyOf"][:-1]] == [
        "get_ticket_price",
        "book_flight",
    ]
    assert (
        first["messages"][0]["content"].startswith(flightai.SYSTEM_PROMPT)
        and "get_ticket_price(origin, destination)" in first["messages"][0]["content"]
    )
    # after a successful call: plain turns, and an answer-only schema
    assert second["options"].json_schema == ANSWER_SCHEMA
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == call
    assert second["messages"][3]["content"].startswith("Result of get_ticket_price: {") and second["messages"][3][
        "content"
    ].endswith(ANSWER_NUDGE)


def test_constrained_keeps_tools_open_after_a_failed_call(db):
    bad = json.dumps({"tool": "get_ticket_price", "arguments": {"origin": "Paris", "destination": "Paris"}})
    fake = FakeProvider([bad, json.dumps({"answer": "Sorry."})])
    flightai.ask(fake, "Price to Paris?", db=db, strategy="constrained")
    assert "anyOf" in fake.calls[1]["options"].json_schema
    assert "same city" in fake.calls[1]["messages"][-1]["content"]


def test_parse_constrained():
    assert parse_constrained('{"answer": "Hi"}', "c") == ("Hi", [])
    text, calls = parse_constrained('{"tool": "f", "arguments": {"x": 1}}', "c9")
    assert text == "" and calls == [ToolCall("c9", "f", '{"x": 1}')]
    assert parse_constrained('{"tool": "f", "argu', "c") == ('{"tool": "f", "argu', [])  # cut short: kept as text


def test_constrained_schema_is_call_or_answer(db):
    reg = flightai.registry(db)
    s = constrained_schema(reg)
    assert s["anyOf"][-1] == ANSWER_SCHEMA and len(s["anyOf"]) == 3
    assert s["anyOf"][0]["properties"]["arguments"] == reg["get_ticket_price"].schema["function"]["parameters"]
    msgs = constrained_messages([{"role": "user", "content": "hi"}], reg)
    assert msgs[0]["role"] == "system" and "Reply with JSON only" in msgs[0]["content"]


def test_strategy_auto_picks_constrained_only_for_local():
    from lab.tools.loop import pick_strategy

    assert pick_strategy(FakeProvider(), "auto") == "native"
    assert pick_strategy(type("P", (), {"name": "local"})(), "auto") == "constrained"
    with pytest.raises(InputError):
        pick_strategy(FakeProvider(), "magic")


# ---------------------------------------------------------------------------------------------- SQLite
def test_booking_is_written_and_read_back(db, tmp_path):
    day = flightai.today() + datetime.timedelta(days=60)
    out = db.book_flight("Grace Hopper", "Paris", "new york", day)
    assert out == {
        "booking_id": 1,
        "passenger": "Grace Hopper",
        "origin": "Paris",
        "destination": "New York",
        "price_usd": 1099.0,
        "date": day.isoformat(),
    }
    again = flightai.FlightDB(tmp_path / "flightai.db")  # a new connection to the same file
    (row,) = again.bookings()
    assert (row["passenger"], row["destination"], row["date"], row["price_usd"]) == (
        "Grace Hopper",
        "New York",
        day.isoformat(),
        1099.0,
    )


def test_sql_injection_stays_inert(db):
    with pytest.raises(ToolArgumentError, match="does not fly to"):
        db.get_ticket_price("London", "Paris' OR '1'='1")
    with pytest.raises(ToolArgumentError, match="does not fly to"):
        db.get_ticket_price("London", "x'; DROP TABLE prices; --")
    evil = "Robert'); DROP TABLE bookings; --"
    db.book_flight(evil, "London", "Paris", flightai.today())
    assert db.bookings()[0]["passenger"] == evil  # stored as text, executed as nothing
    with sqlite3.connect(db.path) as con:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"prices", "bookings"} <= tables and len(db.prices()) == len(flightai.SEED_PRICES)


def test_price_table_is_editable(db):
    db.set_prices({"Paris": 100, " Rome ": 250.5, "": 3})
    assert db.prices() == {"Paris": 100.0, "Rome": 250.5}
    assert db.get_ticket_price("Berlin", "rome")["price_usd"] == 250.5
    with pytest.raises(InputError, match=">= 0"):
        db.set_prices({"Paris": -1})
    with pytest.raises(InputError, match="empty"):
        db.set_prices({})


# ---------------------------------------------------------------------------------------------- CLI
def cli(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "lab", "tools", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def test_cli_prices_json(tmp_path):
    out = cli("prices", "--json", env={"LAB_DATA_DIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    assert {"destination": "Paris", "price_usd": 899.0} in rows and len(rows) == len(flightai.SEED_PRICES)
    assert (tmp_path / "flightai.db").exists()


def test_cli_ask_json_prints_answer_and_openai_shaped_trace(wire, tmp_path, no_keys):
    for step in ("one_call", "answer"):
        wire.queue(f"tools_openai_{step}.sse")
    out = cli(
        "ask",
        "--provider",
        "openai-compatible",
        "--base-url",
        wire.url + "/v1",
        "--model",
        "gpt-4o-mini",
        "--json",
        "How much is a ticket from London to Paris?",
        env={"LAB_DATA_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"answer", "trace"} and data["answer"].startswith("A return ticket to Paris is $899")
    trace = data["trace"]
    assert [m["role"] for m in trace] == ["system", "user", "assistant", "tool", "assistant"]
    assert trace[2]["tool_calls"][0] == {
        "id": "call_A1",
        "type": "function",
        "function": {"name": "get_ticket_price", "arguments": '{"origin": "London", "destination": "Paris"}'},
    }
    assert trace[3]["tool_call_id"] == "call_A1" and json.loads(trace[3]["content"])["price_usd"] == 899.0
    assert "round 1: get_ticket_price" in out.stderr


def openai_tool_call_sse(name: str, arguments: dict, call_id: str = "call_B1") -> bytes:
    """One streamed OpenAI reply asking for one tool call (the chunk shapes of tests/wire/tools_openai_one_call.sse)."""
    head = {"id": "chatcmpl-TB1", "object": "chat.completion.chunk", "created": 1732800100, "model": "gpt-4o-mini"}
    deltas = [
        {"role": "assistant", "content": None},
        {"tool_calls": [{"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}]},
        {"tool_calls": [{"index": 0, "function": {"arguments": json.dumps(arguments)}}]},
    ]
    chunks = [{**head, "choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    chunks.append({**head, "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    return b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


def test_cli_shows_a_refused_booking_and_the_model_reads_why(wire, tmp_path, no_keys):
    bad = {"passenger": "  ", "origin": "London", "destination": "Tokyo", "date": "1900-01-01"}
    wire.queue(body=openai_tool_call_sse("book_flight", bad), content_type="text/event-stream")
    wire.queue("tools_openai_answer.sse")
    out = cli(
        "ask",
        "--provider",
        "openai-compatible",
        "--base-url",
        wire.url + "/v1",
        "--model",
        "gpt-4o-mini",
        "Book a blank name in 1900",
        env={"LAB_DATA_DIR": str(tmp_path)},
    )
    assert out.returncode == 0, out.stderr
    assert (
        "round 1: book_flight(" in out.stderr
        and "-> invalid_arguments Error: invalid arguments for book_flight: "
        "passenger: Value error, must not be blank; date: Value error, 1900-01-01 is outside the booking window"
        in out.stderr
    )
    assert "Traceback" not in out.stderr and out.stdout.strip()
    (tool_msg,) = [m for m in wire.requests[1].json["messages"] if m["role"] == "tool"]
    assert tool_msg["tool_call_id"] == "call_B1" and "must not be blank" in tool_msg["content"]
    assert flightai.FlightDB(tmp_path / "flightai.db").bookings() == []


def test_cli_ask_errors_are_one_line(tmp_path, no_keys):
    out = cli("ask", "--provider", "openai", "hi", env={"LAB_DATA_DIR": str(tmp_path)})
    assert out.returncode == 2 and "OPENAI_API_KEY" in out.stderr


# ---------------------------------------------------------------------------------------------- the real small model
@pytest.mark.slow
def test_smollm2_constrained_reply_always_parses(tmp_path):
    """Whatever SmolLM2 decides, the grammar makes its first reply a call or an answer (not free text)."""
    from lab.llm import Options, get_provider

    db = flightai.FlightDB(tmp_path / "f.db")
    result = flightai.ask(
        get_provider("local"),
        "How much is a ticket from London to Tokyo?",
        db=db,
        max_rounds=2,
        options=Options(temperature=0.0, max_tokens=120),
    )
    first = json.loads(result.rounds[0].reply_text)
    assert set(first) in ({"tool", "arguments"}, {"answer"})
    assert result.messages[0]["content"] == flightai.SYSTEM_PROMPT and result.strategy == "constrained"


def test_docstring_examples_run():
    import doctest

    from lab.tools import constrained, loop, registry, schema

    for mod in (schema, registry, constrained, loop, flightai):
        result = doctest.testmod(mod)
        assert result.attempted >= 1 and result.failed == 0, mod.__name__
