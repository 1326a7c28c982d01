"""Agents lab, offline and fast: feeds, the scanner's checks, memory across cycles, the ensemble's weights, the CLI.

Models are replaced where the test is about something else: the scanner's model by the scripted provider
(``FakeProvider``, queued replies), the ensemble's members by ``Double``s (named test doubles that price by a
formula), so each test checks the lab's own logic. The real models run in ``test_agents_slow.py``.
"""

from __future__ import annotations

import json
import math

import pytest

from lab.agents import feeds as F
from lab.agents import scanner as S
from lab.agents.ensemble import EnsembleAgent
from lab.agents.framework import Log, Memory, canonical_url
from lab.llm.fake import FakeProvider
from lab.pricer.items import Item
from tests.helpers import Double, doubles_agent


# ---------------------------------------------------------------------------------------------- feeds
def test_bundled_feeds_have_enough_varied_deals():
    deals, problems = F.read_feeds(F.bundled_feeds())
    assert problems == []
    distinct = {d.key: d for d in deals}
    assert len(deals) == 51 and len(distinct) == 47  # 4 deals are listed in two feeds
    assert len({d.category for d in deals}) >= 5
    # repeated deals carry different tracking tails, the same canonical URL
    sony = [d.url for d in deals if "sony-wh1000xm5" in d.url or "airpods" in d.url]
    assert len(set(sony)) > len({canonical_url(u) for u in sony})
    unclear = [d for d in distinct.values() if S.title_price(d) is None]
    assert len(unclear) >= 5  # "$40 off", "price drops in cart", "up to 35% off"...
    assert all(len(d.summary) > 40 and "<div" not in d.summary for d in deals)


def test_a_failing_feed_is_skipped_with_a_log_line(tmp_path):
    bad = tmp_path / "broken.xml"
    bad.write_text("<rss version='2.0'><channel><item><title>Cut off")
    atom = tmp_path / "atom.xml"
    atom.write_text("<feed xmlns='http://www.w3.org/2005/Atom'><title>x</title></feed>")
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        "<rss><channel><item><title>&b;</title></item></channel></rss>"
    )
    log = Log()
    scanner = S.ScannerAgent(log, sources=[bad, *F.bundled_feeds()[:1], atom, bomb, tmp_path / "missing.xml"])
    result = S.ScanResult()
    new = scanner.fetch(set(), result)
    assert len(new) == 10 and len(result.problems) == 4
    lines = [ln.message for ln in log.lines]
    assert any("broken.xml" in m and "not well-formed XML" in m for m in lines)
    assert any("atom.xml" in m and "not an RSS 2.0 feed" in m for m in lines)
    assert any("bomb.xml" in m and "defusedxml" in m for m in lines)
    assert any("missing.xml" in m for m in lines)


# ---------------------------------------------------------------------------------------------- scanner
def test_scanner_keeps_only_prices_found_in_the_deal_text():
    deals, _ = F.read_feeds(F.bundled_feeds())
    url = {d.key.rsplit("/", 1)[-1]: d.url for d in deals}
    picks = {
        "deals": [
            {
                "product_description": "Poly 21.5-inch meeting display with webcam.",
                "price": 30,
                "url": url["poly-studio-p21.html"],
            },
            {
                "product_description": "Sony headphones.",
                "price": 249.0,
                "url": url["sony-wh1000xm5.html"],
            },  # not in text
            {"product_description": "Anker power bank.", "price": 40, "url": url["anker-powerbank.html"]},  # a discount
            {"product_description": "Poly again.", "price": 30, "url": url["poly-studio-p21.html"]},  # twice
        ]
    }
    fake = FakeProvider([json.dumps(picks)])
    log = Log()
    result = S.ScannerAgent(log).scan(fake, n=5)
    reasons = {d["reason"] for d in result.dropped}
    assert {"its price $249.00 is not in its text", "picked twice"} <= reasons
    # deals whose text states no price never reach the model (Anker: only "$40 off"), each dropped with a reason
    before = {d["title"]: d["reason"] for d in result.dropped if d["reason"].startswith(("no price", "its text"))}
    assert len(before) == 7 and result.priced == 40
    assert (
        before["Anker 737 Power Bank 24,000mAh 140W: $40 off"] == "its text states only a discount ('$X off'), no price"
    )
    assert sum("before asking the model" in ln.message for ln in log.lines) == 7
    assert "its URL is not one of the deals shown" in reasons  # so the model's pick of Anker is refused
    assert "anker-powerbank" not in fake.calls[0]["messages"][1]["content"]
    assert [(d.price, d.source) for d in result.deals[:1]] == [(30.0, "model")]
    assert len(result.deals) == 5 and all(d.source == "rule" for d in result.deals[1:])  # topped up, labelled
    for d in result.deals:  # every price shown is a number of its own deal's text
        entry = next(e for e in deals if e.key == canonical_url(d.url))
        assert S.check_pick(entry, d.price) == ""
    # the schema sent narrows url to the deals shown: a model cannot invent a link
    schema = fake.calls[0]["options"].json_schema
    enum = schema["$defs"]["Deal"]["properties"]["url"]["enum"]
    assert len(enum) == result.shown and canonical_url(url["poly-studio-p21.html"]) in enum
    assert result.entries == 51 and result.distinct == 47 and len(result.candidates) == 47
    assert any("dropped 'Sony" in ln.message for ln in log.lines)


def test_scanner_skips_what_memory_knows_and_survives_an_invalid_reply():
    deals, _ = F.read_feeds(F.bundled_feeds())
    known = {d.key for d in deals[:20]}
    fake = FakeProvider(["not json", "still not json"])
    result = S.ScannerAgent(Log()).scan(fake, known=known, n=3)
    assert sum(d["reason"] == "already surfaced" for d in result.dropped) == len(known)
    assert not {canonical_url(d.url) for d in result.deals} & known
    assert [d.source for d in result.deals] == ["rule"] * 3 and len(fake.calls) == 2  # one repair attempt


# ---------------------------------------------------------------------------------------------- memory and cycles
def test_three_cycles_surface_no_deal_twice(tmp_settings, tmp_path):
    from lab.agents.cycle import run_cycle

    seen: list[str] = []
    for _ in range(3):
        fake = FakeProvider(default='{"deals": []}')
        out = run_cycle("fixed", fake, folder=tmp_path / "state", ensemble=doubles_agent(), threshold=-1e9)
        urls = [canonical_url(o["url"]) for o in out.opportunities]
        assert len(urls) == 5
        seen += urls
        assert len(out.notified) == 1 and out.notified[0]["channels"] == ["inbox"]
        d = out.to_dict()
        assert set(d["opportunities"][0]) >= {"title", "url", "price", "estimate", "discount", "members", "seconds"}
        assert set(d["opportunities"][0]["members"]) == {"specialist", "frontier", "random_forest"}
        assert {"agent", "message"} <= set(d["log"][0])
        assert {"total", "setup", "scan", "price", "notify", "members"} <= set(d["seconds"])  # each stage timed
    assert len(seen) == len(set(seen)) == 15
    memory = Memory(tmp_path / "state" / "memory.json")
    assert len(memory.load()) == 15
    assert memory.forget(seen[0]) and len(memory.load()) == 14
    assert memory.clear() == 14 and memory.load() == []


def test_memory_reads_a_damaged_file_as_empty(tmp_path):
    path = tmp_path / "memory.json"
    path.write_text("{not json")
    m = Memory(path)
    assert m.load() == []
    assert m.add([{"title": "a", "url": "https://x.example/a?iref=1"}]) == 1
    assert m.add([{"title": "a", "url": "https://x.example/a?iref=2"}]) == 0  # same deal, other feed


# ---------------------------------------------------------------------------------------------- ensemble
def test_ensemble_weights_recover_a_known_truth(tmp_settings):
    """Synthetic items whose truth is known: the specialist says the true price, the others are off by a
    non-linear formula; the regression must find weight 1 on the specialist and ~0 elsewhere."""
    prices = [20.0 + 37.0 * i for i in range(40)]
    items = [Item(f"item {i}", "x", p, f"product number {i} of the test", 0) for i, p in enumerate(prices)]
    truth = {it.text: it.price for it in items}
    agent = EnsembleAgent(
        [
            Double("specialist", lambda d: truth.get(d)),
            Double("frontier", lambda d: truth.get(d, 0) * (1 + 0.3 * math.sin(truth.get(d, 0)))),
            Double("random_forest", lambda d: 10 * math.sqrt(truth.get(d, 0))),
        ]
    )
    agent.fit(items=items)
    w = agent.weights()
    assert w["specialist"] == pytest.approx(1.0, abs=1e-6)
    for k in ("frontier", "random_forest", "min", "max", "intercept"):
        assert w[k] == pytest.approx(0.0, abs=1e-5)
    truth["a new product"] = 500.0
    priced = agent.price("a new product")
    assert priced.estimate == pytest.approx(500.0, abs=1e-4)
    assert set(priced.seconds) == {"specialist", "frontier", "random_forest"}
    # the guesses are cached on disk: a second fit asks no member again
    calls = []
    agent.members[0].fn = lambda d: calls.append(d) or truth.get(d)
    agent.fit(items=items)
    assert calls == []


def test_a_member_without_a_number_is_not_invented(tmp_settings):
    agent = doubles_agent()
    agent.members[1] = Double("frontier", lambda d: None)
    priced = agent.price("Some gadget")
    assert priced.members["frontier"] is None and math.isfinite(priced.estimate)


# ---------------------------------------------------------------------------------------------- CLI
def test_cli_memory_and_help(tmp_settings, capsys):
    from lab.cli import main

    Memory(tmp_settings.data_dir / "agents" / "memory.json").add(
        [{"title": "t", "url": "https://d.example/t", "price": 1.0, "estimate": 2.0}]
    )
    assert main(["agents", "memory", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["title"] for r in out["memory"]] == ["t"]
    assert main(["agents", "memory", "--clear", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["cleared"] == 1
    assert main(["agents", "modal", "--print"]) == 2  # no fine-tune run: explained, exit 2
    assert "No fine-tune run with an adapter" in capsys.readouterr().err


def test_the_modules_worked_examples_hold():
    import doctest

    from lab.agents import feeds, framework, messenger, net, scanner

    for mod in (feeds, framework, messenger, net, scanner):
        assert doctest.testmod(mod, optionflags=doctest.ELLIPSIS).failed == 0, mod.__name__
