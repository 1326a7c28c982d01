"""The core layer's one-way-each helpers: build once, Hub status, device, tokenizer loading and chat token count."""

from __future__ import annotations

import threading
import time

import pytest

from lab.core import hub
from lab.core.once import Once, once
from lab.core.tokenizers import count_chat_tokens, tiktoken_encoding


# ---------------------------------------------------------------------------------------------- once
def test_once_builds_each_key_once_under_concurrency():
    calls = []

    @once
    def build(key):
        calls.append(key)
        time.sleep(0.05)
        return object()

    got = []
    threads = [threading.Thread(target=lambda: got.append(build("a"))) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["a"] and len({id(g) for g in got}) == 1


def test_a_slow_key_does_not_block_another_and_a_failure_is_not_cached():
    gate, started = threading.Event(), threading.Event()
    attempts = {"bad": 0}

    def build(key):
        if key == "slow":
            started.set()
            gate.wait(5)
        if key == "bad":
            attempts["bad"] += 1
            if attempts["bad"] == 1:
                raise OSError("not yet")
        return key.upper()

    cache = Once(build)
    t = threading.Thread(target=cache, args=("slow",))
    t.start()
    started.wait(5)
    assert cache("fast") == "FAST"  # answered while "slow" is still building
    gate.set()
    t.join(5)
    with pytest.raises(OSError):
        cache("bad")
    assert cache("bad") == "BAD" and attempts["bad"] == 2  # the failure was not remembered
    assert "slow" in cache and "bad" in cache and "never" not in cache
    cache.cache_clear()
    assert "fast" not in cache


def test_once_with_a_key_function():
    seen = []
    cache = Once(lambda d: seen.append(d) or len(d), key=lambda d: tuple(sorted(d)))
    assert cache({"a": 1, "b": 2}) == 2 and cache({"b": 3, "a": 4}) == 2 and len(seen) == 1


# ---------------------------------------------------------------------------------------------- Hub status
@pytest.mark.parametrize(
    "value, offline",
    [
        ("1", True),
        ("true", True),
        ("True", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("false", False),
        ("", False),
    ],
)
def test_every_spelling_huggingface_hub_accepts_switches_the_hub_off(monkeypatch, value, offline):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as if imported without the variable
    for var in hub.OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.hub_offline() is offline
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", value)
    assert hub.hub_offline() is offline


def test_offline_answers_at_once_without_a_call(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    t0 = time.perf_counter()
    assert hub.hub_reachable() is False and time.perf_counter() - t0 < 0.5


def test_the_two_offline_checks_that_read_only_1_now_read_true(monkeypatch, tmp_settings):
    from lab.core.errors import ProviderUnavailable
    from lab.gguf import convert
    from lab.pricer import data

    monkeypatch.setenv("HF_HUB_OFFLINE", "true")
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE"):
        convert.download_hub("openai-community/gpt2")
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE"):
        data.load_amazon()


# ---------------------------------------------------------------------------------------------- tokens
def test_both_labs_count_a_chat_prompt_the_same_way():
    from lab.finetune import openai_data
    from lab.prompting import memory

    msgs = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "hello world", "name": "bo"},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "x"}]},
    ]
    enc = tiktoken_encoding("o200k_base")
    by_hand = 3 + (3 + 1 + len(enc.encode("You are terse."))) + (3 + 1 + 2 + len(enc.encode("bo")) + 1) + (3 + 1)
    assert memory.count_tokens(msgs) == openai_data.count_tokens(msgs) == count_chat_tokens(msgs) == by_hand
    assert openai_data.encoding() is enc  # one encoding object per process
    assert count_chat_tokens([{"role": "user", "content": "<|endoftext|>"}]) > 3 + 3 + 1 + 1  # plain text here


def test_source_of_reads_each_object_once_and_never_two_at_a_time(monkeypatch):
    """Pages show code with ``source_of``; ``inspect.getsource`` parses the module each call, and two parses at
    once broke under load (CPython 3.11.7), so it runs once per object and one call at a time."""
    import inspect
    import threading
    import time

    from lab.core import source
    from lab.llm.base import Options, Usage

    calls, running, peak = [], [0], [0]
    real = inspect.getsource

    def counted(obj):
        running[0] += 1
        peak[0] = max(peak[0], running[0])
        calls.append(obj)
        time.sleep(0.02)
        try:
            return real(obj)
        finally:
            running[0] -= 1

    monkeypatch.setattr(source, "_CACHE", {})
    monkeypatch.setattr(source.inspect, "getsource", counted)
    out = []
    threads = [threading.Thread(target=lambda o=o: out.append(source.source_of(o))) for o in [Options, Usage] * 8]
    [t.start() for t in threads]
    [t.join(10) for t in threads]
    assert sorted(c.__name__ for c in calls) == ["Options", "Usage"]  # once each
    assert peak[0] == 1  # never two parses at the same time
    assert sum(s.startswith("class Options") for s in out) == 8 and sum("class Usage:" in s for s in out) == 8
