"""LLM preprocessing: the course's prompt, cost shown before sending, batches, the disk cache, raw vs rewritten."""

from __future__ import annotations

import json

import pytest

from lab.core.errors import InputError, RateLimited
from lab.llm.fake import FakeProvider
from lab.pricer import rewrite as R
from lab.pricer.items import Item


def items(n: int) -> list[Item]:
    out = []
    for i in range(n):
        premium = i % 2
        text = (
            f"Brand{i % 3} gadget model {i} "
            + ("premium metal finish" if premium else "basic plastic")
            + " with SKU ABC123456 and marketing words"
        )
        out.append(Item(f"Gadget {i}", "Gizmos", 40.0 + 300 * premium + i, text, len(text.split())))
    return out


def test_messages_are_the_courses():
    m = R.messages_for("Sony headphones")
    assert (
        m[0]["content"].startswith("Create a concise description of a product.")
        and "Brand: Brand name" in m[0]["content"]
    )
    assert m[1] == {"role": "user", "content": "Sony headphones"}


def test_estimate_before_sending_then_rewrite_in_batches_and_cache(tmp_settings):
    texts = [R.raw_text(i) for i in items(5)]
    fake = FakeProvider([f"Title: gadget {i}\nBrand: Brand{i}" for i in range(5)])
    est = R.estimate(fake, texts=texts)
    assert est["to_rewrite"] == 5 and est["cached"] == 0 and est["input_tokens"] > 5 * 40 and est["cost_usd"] == 0.0
    assert fake.calls == []  # estimating sends nothing
    seen = []
    out = R.rewrite(fake, texts, batch_size=2, on_batch=lambda d, t: seen.append((d, t)))
    assert out[0] == "Title: gadget 0\nBrand: Brand0" and len(fake.calls) == 5
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert len(list((tmp_settings.data_dir / "pricer" / "rewrites").glob("*.json"))) == 5
    # a rerun pays nothing: every text is in the cache, no request is made
    again = FakeProvider([])
    assert R.rewrite(again, texts) == out and again.calls == []
    assert R.estimate(again, texts=texts)["to_rewrite"] == 0
    # another model is another cache entry
    assert R.key(fake, "other-model", texts[0]) != R.key(fake, None, texts[0])


def test_cost_uses_the_price_table(tmp_settings):
    class Paid(FakeProvider):
        name = "openai"

    est = R.estimate(Paid(), "gpt-4o-mini", ["word " * 100])
    # input tokens at $0.15/M and 70 expected output tokens at $0.60/M
    assert est["cost_usd"] == pytest.approx(est["input_tokens"] * 0.15e-6 + 70 * 0.60e-6)
    assert est["cost_usd_max"] > est["cost_usd"]
    assert R.estimate(Paid(), "unknown-model", ["x"])["cost_usd"] is None  # unknown price: none, never guessed


def test_an_error_stops_the_run_and_keeps_what_finished(tmp_settings):
    texts = ["one product", "two product", "three product"]
    fake = FakeProvider(["Title: one", RateLimited("slow down")])
    with pytest.raises(RateLimited):
        R.rewrite(fake, texts, batch_size=1)
    assert R.cached(fake, None, "one product") == "Title: one" and R.cached(fake, None, "two product") is None
    with pytest.raises(InputError, match="batch_size"):
        R.rewrite(fake, texts, batch_size=0)


def test_compare_raw_and_rewritten_on_the_same_items(tmp_settings):
    its = items(20)
    # rewrites that keep only the words that matter: the rewritten text should price better
    summaries = [f"Title: gadget\nDescription: {'premium metal' if i % 2 else 'basic plastic'}" for i in range(20)]
    rows = R.compare(its, summaries, ["constant (train mean)", "bag of words + LR"], folds=4)
    assert {(r["name"], r["text"]) for r in rows} == {
        (n, t) for n in ("constant (train mean)", "bag of words + LR") for t in ("raw", "rewritten")
    }
    assert all(r["items"] == 20 and "mae_ci" in r for r in rows)
    const = [r["mae"] for r in rows if r["name"] == "constant (train mean)"]
    assert const[0] == const[1]  # same items, same folds: the constant model cannot tell
    assert R.rewritten_items(its[:1], [""])[0].text == its[0].text  # an empty reply falls back to the raw text
    with pytest.raises(InputError, match="summaries"):
        R.rewritten_items(its, summaries[:3])


def test_cli_rewrite_estimate_and_run(capsys, tmp_settings):
    from lab.cli import main

    assert (
        main(
            [
                "pricer",
                "rewrite",
                "--provider",
                "fake",
                "--n",
                "2",
                "--estimate",
                "--json",
                "--tokenizer",
                "cl100k_base",
            ]
        )
        == 0
    )
    est = json.loads(capsys.readouterr().out)
    assert est["to_rewrite"] == 2 and est["cost_usd"] == 0.0
    # the fake provider has nothing queued: a one-line error, exit code 2, no traceback
    assert main(["pricer", "rewrite", "--provider", "fake", "--n", "2", "--tokenizer", "cl100k_base"]) == 2
    assert "no reply queued" in capsys.readouterr().err
