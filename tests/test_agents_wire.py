"""Agents over HTTP on loopback: the autonomous planner's tool loop through the real OpenAI SDK (scripted wire
server), pushes to a loopback webhook, a feed server answering HTTP 500.

The loopback address is allowed only here, through ``allow_networks``; the lab itself refuses it.
"""

from __future__ import annotations

import json

import pytest

from lab.agents.cycle import run_cycle
from lab.agents.feeds import bundled_feeds
from lab.agents.framework import Log, canonical_url
from lab.agents.messenger import Inbox, MessagingAgent
from lab.agents.scanner import ScannerAgent
from lab.llm import get_provider
from tests.helpers import doubles_agent

LOOPBACK = ["127.0.0.0/8"]


def test_autonomous_planner_runs_the_agents_as_tools(wire, tmp_settings, tmp_path, no_keys):
    for step in ("scan_call", "selection", "estimate_call", "notify_call", "message", "ok"):
        wire.queue(f"agents_openai_{step}.sse")
    provider = get_provider("openai", api_key="sk-test", base_url=wire.url + "/v1")
    out = run_cycle("llm", provider, model="gpt-4o-mini", folder=tmp_path, ensemble=doubles_agent())

    assert out.answer == "OK" and len(wire.requests) == 6
    planner_turns = [wire.requests[i].json for i in (0, 2, 3, 5)]
    assert [t["function"]["name"] for t in planner_turns[0]["tools"]] == [
        "scan_the_internet_for_bargains",
        "estimate_true_value",
        "notify_user_of_deal",
    ]
    # the scanner's own request (structured output) went out while the scan tool ran
    scan_req = wire.requests[1].json
    assert scan_req["response_format"]["type"] == "json_schema"
    # what the scan tool returned to the model: the checked deals only (Sony's invented price, Anker's discount gone)
    tool_result = json.loads(next(m["content"] for m in planner_turns[1]["messages"] if m["role"] == "tool"))
    urls = [canonical_url(d["url"]) for d in tool_result["deals"]]
    assert urls[:2] == [
        "https://deals.example.com/products/poly-studio-p21.html",
        "https://deals.example.com/products/samsung-65-qled.html",
    ]
    assert not any("sony-wh1000xm5" in u or "anker" in u for u in urls)
    reasons = [d["reason"] for d in out.scan["dropped"]]
    assert "its price $249.00 is not in its text" in reasons and any("discount" in r for r in reasons)
    # one opportunity (the deal the model estimated), notified with the ensemble's estimate, not the model's 999
    (opp,) = out.opportunities
    assert opp["price"] == 30.0 and opp["estimate"] != 999.0
    (note,) = out.notified
    assert note["text"].startswith(
        "A 21.5-inch meeting display with a webcam, for the price of lunch! $30.00 (estimate $"
    )
    log = [ln.message for ln in out.log]
    assert any("the model said $999.00; the ensemble said" in m for m in log)
    # remembered: the next cycle will not surface it again
    assert [m["url"] for m in json.loads((tmp_path / "memory.json").read_text())] == [opp["url"]]


def test_messenger_pushes_to_ntfy_and_pushover_on_loopback(wire, tmp_path, monkeypatch):
    monkeypatch.setenv("NTFY_TOPIC", "lab-deals")
    monkeypatch.setenv("PUSHOVER_USER", "u-test")
    monkeypatch.setenv("PUSHOVER_TOKEN", "t-test")
    monkeypatch.setenv("PUSHOVER_URL", wire.url + "/1/messages.json")
    wire.queue(body=b'{"id": "n1"}').queue(body=b'{"status": 1}')
    inbox = Inbox(tmp_path / "inbox.json")
    agent = MessagingAgent(inbox, None, Log(), allow_networks=LOOPBACK, ntfy_url=wire.url)
    sent = agent.notify("Echo Show 8", "Amazon Echo Show 8 smart display", 104.99, 180.0, "https://d.example/echo")
    assert sent["channels"] == ["inbox", "ntfy", "pushover"] and sent["errors"] == {}
    ntfy, pushover = wire.requests
    assert ntfy.method == "POST" and ntfy.path == "/lab-deals" and ntfy.body.decode() == sent["text"]
    assert "$104.99 (estimate $180.00) https://d.example/echo" in sent["text"]
    assert pushover.path == "/1/messages.json" and b"user=u-test" in pushover.body and b"token=t-test" in pushover.body
    assert [r["text"] for r in inbox.load()] == [sent["text"]]


def test_messenger_refuses_loopback_unless_allowed_and_keeps_the_inbox(wire, tmp_path, monkeypatch):
    monkeypatch.setenv("NTFY_TOPIC", "lab-deals")
    monkeypatch.delenv("PUSHOVER_USER", raising=False)
    log = Log()
    agent = MessagingAgent(Inbox(tmp_path / "inbox.json"), None, log, ntfy_url=wire.url)
    sent = agent.notify("Echo", "Echo Show", 104.99, 180.0, "https://d.example/echo")
    assert sent["channels"] == ["inbox"] and "loopback address" in sent["errors"]["ntfy"]
    assert wire.requests == [] and any("ntfy failed" in ln.message for ln in log.lines)


def test_a_feed_answering_http_500_is_skipped(wire):
    wire.queue(status=500, body=b"oops")
    feed_ok = bundled_feeds()[0].read_bytes()
    wire.queue(body=feed_ok, content_type="application/rss+xml")
    log = Log()
    scanner = ScannerAgent(log, sources=[wire.url + "/broken.xml", wire.url + "/ok.xml"], allow_networks=LOOPBACK)
    from lab.agents.scanner import ScanResult

    result = ScanResult()
    new = scanner.fetch(set(), result)
    assert len(new) == 10 and len(result.problems) == 1
    assert any("skipped feed" in ln.message and "HTTP 500" in ln.message for ln in log.lines)


@pytest.mark.parametrize("allowed", [False])
def test_online_feeds_never_reach_loopback_without_permission(wire, allowed):
    scanner = ScannerAgent(Log(), sources=[wire.url + "/feed.xml"])
    from lab.agents.scanner import ScanResult

    result = ScanResult()
    assert scanner.fetch(set(), result) == [] and "loopback" in result.problems[0]
    assert wire.requests == []
