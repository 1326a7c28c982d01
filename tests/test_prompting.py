"""Prompting: the messages each technique builds, context injection, memory, structured output with repair,
comparison and next-token tables. The scripted FakeProvider answers and records what was sent."""

from __future__ import annotations

import json
import math

import pytest

from lab.core.errors import InputError, MissingKeyError, ProviderUnavailable
from lab.llm import Options, Usage
from lab.llm.fake import FakeProvider
from lab.prompting.compare import Target, compare, compare_table
from lab.prompting.memory import Conversation, check_fits, count_tokens
from lab.prompting.messages import (
    DEFAULT_RULES,
    EXAMPLE_SHOTS,
    PRESETS,
    Rule,
    Shot,
    build_messages,
    inject_context,
    load_shots,
    shots_label,
)
from lab.prompting.next_token import candidate_rows, next_tokens
from lab.prompting.structured import Deal, DealSelection, Schema, parse_json, structured

SYS = "Classify the sentiment."


# ---------------------------------------------------------------------------------------------- shots
def test_zero_shot_is_system_then_user():
    assert build_messages(SYS, "Meh.") == [{"role": "system", "content": SYS}, {"role": "user", "content": "Meh."}]
    assert build_messages("  ", "Meh.") == [{"role": "user", "content": "Meh."}]  # no empty system turn
    assert shots_label(0) == "zero-shot"


def test_one_shot_as_fictitious_turns():
    msgs = build_messages(SYS, "Meh.", shots=EXAMPLE_SHOTS[:1], style="turns")
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[1]["content"] == EXAMPLE_SHOTS[0].user and msgs[2]["content"] == "positive"
    assert msgs[0]["content"] == SYS  # the system prompt is untouched
    assert shots_label(1) == "one-shot"


def test_multi_shot_as_turns_keeps_order_before_the_history_and_question():
    history = [{"role": "user", "content": "earlier"}, {"role": "assistant", "content": "reply"}]
    msgs = build_messages(SYS, "Meh.", shots=EXAMPLE_SHOTS, style="turns", history=history)
    assert [m["content"] for m in msgs[1:7:2]] == [s.user for s in EXAMPLE_SHOTS]
    assert [m["content"] for m in msgs[2:8:2]] == ["positive", "negative", "neutral"]
    assert msgs[7:] == history + [{"role": "user", "content": "Meh."}]
    assert shots_label(3) == "multi-shot (3 examples)"


def test_shots_as_context_in_the_system_prompt():
    msgs = build_messages(SYS, "Meh.", shots=EXAMPLE_SHOTS, style="system")
    assert [m["role"] for m in msgs] == ["system", "user"]
    assert msgs[0]["content"].startswith(SYS + "\n\nExamples:\nUser: I love this hat")
    assert "Assistant: negative\nUser: The parcel arrived on Tuesday.\nAssistant: neutral" in msgs[0]["content"]
    # with no system prompt of its own, the examples still get a system turn
    assert build_messages("", "Meh.", shots=EXAMPLE_SHOTS[:1], style="system")[0]["content"].startswith("Examples:")


def test_unknown_shot_style_is_refused():
    with pytest.raises(InputError, match="turns, system"):
        build_messages(SYS, "x", style="sideways")


def test_load_shots_accepts_both_shapes_and_explains_bad_ones(tmp_path):
    pairs = tmp_path / "pairs.json"
    pairs.write_text(json.dumps([{"user": "2+2?", "assistant": "4"}]))
    turns = '[{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}]'
    assert load_shots(pairs) == load_shots(str(pairs)) == load_shots(turns) == [Shot("2+2?", "4")]
    with pytest.raises(InputError, match="does not exist"):
        load_shots(tmp_path / "missing.json")
    with pytest.raises(InputError, match="not valid JSON"):
        load_shots("[{oops")
    with pytest.raises(InputError, match="alternating"):
        load_shots('[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]')


def test_presets_include_the_course_prompts():
    assert "snarky" in PRESETS["Snarky assistant"]
    assert "Hats are 60% off" in PRESETS["Helpful shop assistant"]
    assert "If you don't know the answer, say so." in PRESETS["Say you don't know"]


# ---------------------------------------------------------------------------------------------- context injection
def test_belt_rule_injects_a_system_message_before_the_last_user_turn():
    msgs = build_messages(PRESETS["Helpful shop assistant"], "Do you sell BELTS?")
    out = inject_context(msgs, DEFAULT_RULES)
    assert [m["role"] for m in out] == ["system", "system", "user"]
    assert out[1]["content"].startswith("The store does not sell belts")
    assert msgs == build_messages(PRESETS["Helpful shop assistant"], "Do you sell BELTS?")  # input not mutated


def test_rules_only_fire_on_the_latest_user_message_and_on_word_starts():
    history = [{"role": "user", "content": "I need a belt"}, {"role": "assistant", "content": "We have hats!"}]
    msgs = build_messages("Shop.", "Any shoes?", history=history)
    assert inject_context(msgs, DEFAULT_RULES) == msgs
    assert not Rule("belt", "x").matches("an unbelted coat")
    rules = DEFAULT_RULES + [Rule("shoe", "Shoes are not on sale today."), Rule("  ", "ignored")]
    out = inject_context(build_messages("Shop.", "Belts and shoes?"), rules)
    assert [m["content"][:10] for m in out if m["role"] == "system"] == ["Shop.", "The store ", "Shoes are "]


def test_conversation_resends_everything_and_records_provider_counts():
    fake = FakeProvider(["We have lovely hats.", "Hats are 60% off."])
    conv = Conversation("Shop.")
    from lab.llm import run

    first = conv.messages("Do you sell hats?", DEFAULT_RULES)
    conv.record("Do you sell hats?", run(fake, first))
    second = conv.messages("And belts?", DEFAULT_RULES)
    conv.record("And belts?", run(fake, second))
    assert fake.calls[1]["messages"] == first + [
        {"role": "assistant", "content": "We have lovely hats."},
        second[-2],
        {"role": "user", "content": "And belts?"},
    ]
    assert second[-2]["role"] == "system" and "belts" in second[-2]["content"]  # injected mid-conversation
    assert len(conv.turns) == 4 and len(conv.prompt_tokens) == 2
    assert conv.prompt_tokens[1] > conv.prompt_tokens[0]  # the illusion of memory costs tokens
    assert count_tokens(second) > count_tokens(first)


def test_count_tokens_and_context_window_check():
    msgs = [{"role": "user", "content": "hello world"}]
    assert count_tokens(msgs) == 3 + 4 + 2  # priming + per-turn markers + 'hello', ' world'
    long = [{"role": "user", "content": "word " * 3000}]
    with pytest.raises(InputError, match=r"about 3,00\d tokens .* up to 256: .* context window of 2,048 tokens"):
        check_fits(long, 2048, max_tokens=256)
    assert check_fits(msgs, 2048, 256) == 9 and check_fits(long, None) > 3000


# ---------------------------------------------------------------------------------------------- structured output
BROKEN = '{"deals": [{"product_description": "Sony headphones", "price": "cheap", "url": "https://s/1"}'
GOOD = '{"deals": [{"product_description": "Sony headphones", "price": 279.99, "url": "https://s/1"}]}'


def test_parse_json_tolerates_fences_and_chatter_but_not_broken_json():
    assert parse_json('Here you go:\n```json\n{"a": [1, 2]}\n```\nEnjoy!') == {"a": [1, 2]}
    assert parse_json('The answer is {"a": 1} as asked') == {"a": 1}
    with pytest.raises(ValueError, match="no JSON object"):
        parse_json("I cannot do that.")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_json(BROKEN)


def test_structured_output_repairs_a_broken_reply_once():
    fake = FakeProvider([BROKEN, GOOD])
    result = structured(
        fake,
        build_messages("Find deals.", "Deals: ..."),
        Schema.from_model(DealSelection),
        options=Options(temperature=0),
        describe=True,
    )
    assert result.ok and result.repaired
    assert result.value == {
        "deals": [{"product_description": "Sony headphones", "price": 279.99, "url": "https://s/1"}]
    }
    assert "not valid JSON" in result.errors[0] and result.errors[1] == ""
    first, second = fake.calls
    assert first["options"].json_schema == DealSelection.model_json_schema()  # constrains local decoding
    assert "JSON Schema" in first["messages"][0]["content"]
    assert second["messages"][-2] == {"role": "assistant", "content": BROKEN}
    assert second["messages"][-1]["content"].startswith("That reply is invalid: the reply is not valid JSON")


def test_structured_output_reports_a_validation_error_it_could_not_repair():
    wrong_type = '{"deals": [{"product_description": "TV", "price": "cheap", "url": "u"}]}'
    fake = FakeProvider([wrong_type, '{"deals": [{"price": 5}]}'])
    result = structured(fake, build_messages("", "deals"), Schema.from_model(DealSelection))
    assert not result.ok and result.value is None and len(result.attempts) == 2
    assert "deals.0.price: Input should be a valid number" in result.errors[0]
    assert "deals.0.product_description: Field required" in result.errors[1]
    assert "deals.0.price" in fake.calls[1]["messages"][-1]["content"]  # the model is told what was wrong


def test_no_repair_when_turned_off_and_no_schema_text_by_default():
    fake = FakeProvider(["nope"])
    result = structured(fake, build_messages("Be brief.", "q"), Schema.from_model(Deal), repair=False)
    assert not result.ok and len(fake.calls) == 1
    assert fake.calls[0]["messages"][0] == {"role": "system", "content": "Be brief."}  # the schema rides in options
    assert fake.calls[0]["options"].json_schema["properties"]["url"]["maxLength"] == 200


def test_user_editable_fields_become_a_pydantic_schema():
    schema = Schema.from_fields("city: str  # the city's name\npopulation_millions: float\ntags: list[str]\n")
    props = schema.json_schema["properties"]
    assert props["city"]["description"] == "the city's name" and props["tags"]["type"] == "array"
    assert schema.validate('{"city": "Paris", "population_millions": 2.1, "tags": ["capital"]}')["city"] == "Paris"
    with pytest.raises(ValueError, match="population_millions: Input should be a valid number"):
        schema.validate('{"city": "Paris", "population_millions": "many", "tags": []}')
    with pytest.raises(InputError, match="unknown type 'money'"):
        Schema.from_fields("price: money")
    with pytest.raises(InputError, match="Line 1: write `field_name: type`"):
        Schema.from_fields("price float")


def test_json_schema_files_validate_with_jsonschema(tmp_path):
    f = tmp_path / "city.json"
    f.write_text(json.dumps({"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}))
    schema = Schema.from_file(f)
    assert schema.validate('{"city": "Paris"}') == {"city": "Paris"}
    with pytest.raises(ValueError, match="'city' is a required property"):
        schema.validate('{"town": "Paris"}')
    f.write_text('{"type": "objekt"}')
    with pytest.raises(InputError, match="not a valid JSON Schema"):
        Schema.from_file(f)


# ---------------------------------------------------------------------------------------------- compare
def test_compare_keeps_going_when_one_model_fails():
    ok = FakeProvider(["A token is a piece of text."])
    broken = FakeProvider([("A token", ProviderUnavailable("Cannot reach ollama at http://127.0.0.1:11434."))])
    seen = []

    def no_key():
        raise MissingKeyError("The openai provider needs an API key: set OPENAI_API_KEY ...")

    outcomes = compare(
        [Target("fake-1", ok), Target("ollama", broken), Target("openai", no_key)],
        build_messages("", "What is a token?"),
        on_text=lambda i, t: seen.append(i),
    )
    assert outcomes[0].text == "A token is a piece of text." and not outcomes[0].error
    assert outcomes[1].text == "A token" and "Cannot reach ollama" in outcomes[1].error  # what streamed is kept
    assert "OPENAI_API_KEY" in outcomes[2].error and outcomes[2].text == ""  # a factory's error stays in its column
    assert set(seen) == {0, 1}
    rows = compare_table(outcomes)
    assert rows[0]["tokens_out"] == 7 and rows[0]["cost_usd"] == 0.0 and rows[1]["tokens_out"] is None
    with pytest.raises(InputError, match="1 to 3"):
        compare([Target(str(i), ok) for i in range(4)], [{"role": "user", "content": "x"}])


# ---------------------------------------------------------------------------------------------- next token
def test_candidate_rows_turn_logprobs_into_sorted_probabilities():
    rows = candidate_rows(
        [
            {
                "token": " Paris",
                "logprob": math.log(0.8),
                "top": {" Lyon": math.log(0.05), " Paris": math.log(0.8), " the": math.log(0.1)},
            }
        ]
    )
    assert rows[0]["step"] == 1 and rows[0]["chosen"] == " Paris" and rows[0]["p"] == pytest.approx(0.8)
    assert [t for t, _ in rows[0]["candidates"]] == [" Paris", " the", " Lyon"]


def test_next_tokens_needs_the_local_model():
    with pytest.raises(InputError, match="pick 'local'"):
        next_tokens(FakeProvider(["x"]), [{"role": "user", "content": "hi"}])


def test_usage_line_for_compare_rows_has_speed():
    u = Usage(10, 11, 0.1, 1.1, None, "m", "p")
    from lab.prompting.compare import Outcome

    row = compare_table([Outcome("m", "x", u)])[0]
    assert row["ttft_ms"] == 100 and row["tokens_per_s"] == 10.0 and row["cost_usd"] is None
