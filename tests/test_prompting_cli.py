"""``python -m lab chat --shots FILE --json-schema FILE``, run as a user runs it, against the loopback wire server
(the real openai SDK on the wire) and once against SmolLM2 itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
}
SHOTS = [{"user": "Capital of Italy?", "assistant": '{"city": "Rome", "country": "Italy"}'}]


def lab(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "lab", *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def files(tmp_path):
    schema, shots = tmp_path / "city.json", tmp_path / "shots.json"
    schema.write_text(json.dumps(CITY_SCHEMA))
    shots.write_text(json.dumps(SHOTS))
    return str(schema), str(shots)


def remote(wire):
    return ["--provider", "openai-compatible", "--base-url", wire.url + "/v1", "--model", "gpt-4o-mini"]


def test_json_schema_prints_validated_json_after_one_repair(wire, files):
    schema, shots = files
    wire.queue("prompting_broken_json.sse").queue("prompting_city_json.sse")
    out = lab("chat", *remote(wire), "--json-schema", schema, "--shots", shots, "Capital of France?")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"city": "Paris", "country": "France"}  # stdout is only the JSON
    assert out.stderr.count("usage: openai-compatible/gpt-4o-mini") == 2
    first, second = (r.json for r in wire.requests)
    assert first["response_format"]["json_schema"]["schema"] == CITY_SCHEMA
    roles = [m["role"] for m in first["messages"]]
    assert roles == ["system", "user", "assistant", "user"]  # the shot as fictitious turns
    assert first["messages"][2]["content"] == SHOTS[0]["assistant"]
    assert second["messages"][-2]["content"] == 'Sure! {"city": "Paris", "country":'
    assert second["messages"][-1]["content"].startswith("That reply is invalid")


def test_json_schema_gives_up_with_the_validation_error(wire, files):
    schema, _ = files
    wire.queue("prompting_broken_json.sse").queue("prompting_broken_json.sse")
    out = lab("chat", *remote(wire), "--json-schema", schema, "Capital of France?")
    assert out.returncode == 2 and out.stdout == ""
    assert "did not validate" in out.stderr and "even after one repair attempt" in out.stderr


def test_shots_in_the_system_prompt_and_plain_output(wire, files):
    _, shots = files
    wire.queue("openai_chat_stream.sse")
    out = lab("chat", *remote(wire), "--shots", shots, "--shot-style", "system", "Capital of France?")
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith("The capital of France is Paris.\nusage: ")
    msgs = wire.requests[0].json["messages"]
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert 'Examples:\nUser: Capital of Italy?\nAssistant: {"city": "Rome"' in msgs[0]["content"]


def test_bad_schema_and_shots_files_are_one_clear_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    out = lab("chat", "--json-schema", str(bad), "hi")
    assert out.returncode == 2 and out.stderr.startswith(f"error: {bad} is not valid JSON")
    out = lab("chat", "--shots", str(tmp_path / "missing.json"), "hi")
    assert out.returncode == 2 and "does not exist" in out.stderr


@pytest.mark.slow
def test_local_model_json_schema_is_valid_by_constrained_decoding(files):
    schema, _ = files
    out = lab("chat", "--json-schema", schema, "--max-tokens", "40", "Give the capital of France as JSON.")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) == {"city", "country"} and all(isinstance(v, str) for v in data.values())
