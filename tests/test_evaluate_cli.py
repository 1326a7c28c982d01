"""``python -m lab evaluate ...``: the JSON shapes the issue fixes, in-process on the scripted provider, and one
real local-model task in a subprocess (slow)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.cli import main
from lab.evaluate.models import ModelSpec
from lab.llm.fake import FakeProvider

ROOT = Path(__file__).resolve().parent.parent


def run_cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_run_json_shape(capsys, monkeypatch, tmp_settings):
    monkeypatch.setattr(
        ModelSpec, "build", lambda self, api_key=None: FakeProvider(default="Paris" if "one" in self.label else "?")
    )
    rc, out, err = run_cli(
        capsys, "evaluate", "run", "--models", "fake:one,fake:two", "--suite", "general,json", "--n", "2", "--json"
    )
    assert rc == 0, err
    rows = json.loads(out)["rows"]
    assert [(r["model"], r["task"]) for r in rows] == [
        ("fake:one", "general"),
        ("fake:one", "json"),
        ("fake:two", "general"),
        ("fake:two", "json"),
    ]
    assert all(set(r) == {"model", "task", "score", "latency_ms_p50", "tok_s", "bytes"} for r in rows)
    assert rows[0]["score"] == 0.5 and rows[2]["score"] == 0.0  # "Paris" is right for France only
    assert rows[1]["score"] == 0.0  # "Paris" is not JSON
    assert "[2/8] fake:one" in err  # progress on stderr


def test_run_details_and_text_table(capsys, monkeypatch, tmp_settings):
    monkeypatch.setattr(ModelSpec, "build", lambda self, api_key=None: FakeProvider(default="Paris"))
    rc, out, _ = run_cli(
        capsys,
        "evaluate",
        "run",
        "--models",
        "fake:x",
        "--suite",
        "general",
        "--n",
        "1",
        "--json",
        "--details",
        "--quiet",
    )
    row = json.loads(out)["rows"][0]
    assert row["n"] == 1 and row["cost_usd"] == 0.0 and row["cases"][0]["got"] == "Paris"
    rc, out, _ = run_cli(capsys, "evaluate", "run", "--models", "fake:x", "--suite", "general", "--n", "1", "--quiet")
    assert rc == 0 and "fake:x" in out and "1.00" in out


def test_bad_names_exit_2_with_a_sentence(capsys, tmp_settings):
    rc, _, err = run_cli(capsys, "evaluate", "run", "--models", "gpt-4o", "--suite", "general")
    assert rc == 2 and "Unknown model 'gpt-4o'" in err
    rc, _, err = run_cli(capsys, "evaluate", "run", "--models", "local", "--suite", "vibes")
    assert rc == 2 and "choose from general, json, tools, pricer, rag" in err


def test_vote_then_arena_json(capsys, tmp_path):
    db = str(tmp_path / "arena.db")
    for winner in ("a", "a", "a", "b", "tie"):
        assert run_cli(capsys, "evaluate", "vote", "--db", db, "--a", "big", "--b", "small", "--winner", winner)[0] == 0
    rc, out, _ = run_cli(capsys, "evaluate", "arena", "--db", db, "--json", "--rounds", "50")
    data = json.loads(out)
    assert rc == 0 and data["battles"] == 5
    assert [r["model"] for r in data["ratings"]] == ["big", "small"]
    for r in data["ratings"]:
        assert set(r) == {"model", "rating", "ci", "votes"} and r["votes"] == 5
        assert len(r["ci"]) == 2 and r["ci"][0] <= r["rating"] <= r["ci"][1]


def test_battle_reads_the_vote_and_reveals(capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(ModelSpec, "build", lambda self, api_key=None: FakeProvider(default=f"I am {self.label}"))
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO("maybe\nb\n"))
    db = str(tmp_path / "arena.db")
    rc, out, err = run_cli(capsys, "evaluate", "battle", "--db", db, "--models", "fake:p,fake:q", "Hi")
    assert rc == 0 and "--- Model A ---" in out and "Vote recorded (1 in all)" in out
    assert out.index("Model A was") > out.index("--- Model B ---")
    assert err.count("Your vote") == 2


def test_leaderboards_json(capsys):
    rc, out, _ = run_cli(capsys, "evaluate", "leaderboards", "--json")
    names = [b["name"] for b in json.loads(out)]
    assert rc == 0 and len(names) == 5 and any("Arena" in n for n in names) and any("LLM-Perf" in n for n in names)


@pytest.mark.slow
def test_one_real_local_task_and_the_rungs(tmp_path):
    """The real SmolLM2 on three general-knowledge questions, and a Q8_0 rung made from the shipped Q4_1."""
    env = {**os.environ, "LAB_DATA_DIR": str(tmp_path)}
    cmd = [
        sys.executable,
        "-m",
        "lab",
        "evaluate",
        "run",
        "--models",
        "local,rung:Q8_0",
        "--suite",
        "general",
        "--n",
        "3",
        "--json",
        "--quiet",
    ]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    rows = json.loads(p.stdout)["rows"]
    assert [r["model"] for r in rows] == ["SmolLM2-135M-Instruct.Q4_1.gguf", "SmolLM2-135M-Instruct.Q4_1-Q8_0.gguf"]
    assert rows[0]["score"] >= 1 / 3  # "The capital of France is Paris." at least
    assert rows[1]["bytes"] > rows[0]["bytes"]  # Q8_0 is bigger than Q4_1
    assert all(r["tok_s"] and r["latency_ms_p50"] for r in rows)
