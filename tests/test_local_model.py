"""The real local model: SmolLM2-135M through llama.cpp, offline."""

from __future__ import annotations

import json
import threading

import pytest

from lab.cli import DEFAULT_SYSTEM
from lab.core.errors import InputError
from lab.llm import Options, get_provider, run

pytestmark = pytest.mark.slow


def test_capital_of_france():
    reply = run(
        get_provider("local"),
        [{"role": "system", "content": DEFAULT_SYSTEM}, {"role": "user", "content": "What is the capital of France?"}],
        options=Options(temperature=0, max_tokens=40),
    )
    assert "Paris" in reply.text
    u = reply.usage
    assert u.provider == "local" and u.completion_tokens > 0 and u.prompt_tokens > 5 and u.cost_usd == 0.0
    assert u.ttft_s is not None and u.ttft_s < u.total_s


def test_streaming_and_non_streaming_agree_at_temperature_zero():
    msgs = [{"role": "user", "content": "Name a colour."}]
    a = run(get_provider("local"), msgs, options=Options(temperature=0, max_tokens=12, stream=True))
    b = run(get_provider("local"), msgs, options=Options(temperature=0, max_tokens=12, stream=False))
    assert a.text.strip() == b.text.strip()


def test_json_schema_constrained_decoding_gives_valid_json():
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"],
    }
    reply = run(
        get_provider("local"),
        [{"role": "user", "content": "Give the capital of France as JSON."}],
        options=Options(temperature=0, max_tokens=60, json_schema=schema),
    )
    data = json.loads(reply.text)
    assert set(data) == {"city", "country"}


def test_context_overflow_is_a_clear_error():
    from lab.llm.local import LocalProvider

    p = LocalProvider(n_ctx=256)
    with pytest.raises(InputError, match="context"):
        run(p, [{"role": "user", "content": "word " * 600}], options=Options(max_tokens=8))


def test_shared_model_is_safe_across_threads():
    results, errors = [], []

    def ask():
        try:
            results.append(
                run(
                    get_provider("local"),
                    [{"role": "user", "content": "Say hi."}],
                    options=Options(temperature=0, max_tokens=8),
                ).text
            )
        except Exception as e:  # pragma: no cover - the assertion below reports it
            errors.append(e)

    threads = [threading.Thread(target=ask) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(results) == 4 and len(set(results)) == 1
