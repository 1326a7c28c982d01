"""The blind arena: an append-only vote store that loses nothing under concurrent voters, and ratings that
recover known strengths (Bradley-Terry as the Chatbot Arena fits it, online Elo), with bootstrap intervals."""

from __future__ import annotations

import multiprocessing as mp
import random
import sqlite3
import threading
import time

import pytest

from lab.core.errors import InputError
from lab.evaluate import arena, ratings
from lab.evaluate.models import ModelSpec
from lab.llm.fake import FakeProvider

VOTERS, VOTES_EACH = 30, 10  # the goal: 30 voters; each casts 10 votes as fast as it can (no think time)


def _voter(path: str, voter: int, n: int, start, seconds: float = 0.0) -> None:
    store = arena.VoteStore(path)
    rng = random.Random(voter)
    start.wait()
    end = time.monotonic() + seconds
    i = 0
    while i < n or time.monotonic() < end:
        a, b = rng.sample(["m1", "m2", "m3", "m4"], 2)
        store.add(a, b, rng.choice(["a", "b", "tie", "bad"]), voter=f"v{voter:02d}")
        i += 1


def test_thirty_concurrent_voter_processes_lose_no_vote(tmp_path):
    """30 processes (each its own connection, as 30 server workers or CLIs would) start voting at the same
    instant on a fresh file: every vote is stored, once: 30 x 10 rows (the README quotes a 60 s run of 30 voters)."""
    path = str(tmp_path / "arena.db")
    ctx = mp.get_context("fork")
    start = ctx.Event()
    procs = [ctx.Process(target=_voter, args=(path, v, VOTES_EACH, start)) for v in range(VOTERS)]
    for p in procs:
        p.start()
    t0 = time.perf_counter()
    start.set()
    for p in procs:
        p.join(120)
    elapsed = time.perf_counter() - t0
    assert [p.exitcode for p in procs] == [0] * VOTERS
    store = arena.VoteStore(path)
    assert store.count() == VOTERS * VOTES_EACH
    assert all(store.count(f"v{v:02d}") == VOTES_EACH for v in range(VOTERS))
    with sqlite3.connect(path) as con:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        ids = [r[0] for r in con.execute("SELECT id FROM votes")]
    assert sorted(ids) == list(range(1, VOTERS * VOTES_EACH + 1))
    print(f"{VOTERS * VOTES_EACH} votes from {VOTERS} processes in {elapsed:.2f} s")


def test_thirty_voter_threads_share_one_server_process(tmp_path):
    """A Streamlit server runs each session in a thread: 30 threads voting at once lose nothing either."""
    path = str(tmp_path / "arena.db")
    start = threading.Event()
    threads = [threading.Thread(target=_voter, args=(path, v, VOTES_EACH, start)) for v in range(VOTERS)]
    for t in threads:
        t.start()
    start.set()
    for t in threads:
        t.join(120)
    assert arena.VoteStore(path).count() == VOTERS * VOTES_EACH


def test_store_is_append_only_and_checks_votes(tmp_path):
    store = arena.VoteStore(tmp_path / "a.db")
    assert store.add("m1", "m2", "a") == 1
    assert store.add("m1", "m2", "tie (bothbad)") == 2
    assert store.battles() == [("m1", "m2", "model_a"), ("m1", "m2", "tie (bothbad)")]
    for bad in (("m1", "m1", "a"), ("m1", "m2", "A wins"), ("", "m2", "b")):
        with pytest.raises(InputError):
            store.add(*bad)
    with sqlite3.connect(store.path) as con:
        for stmt in ("UPDATE votes SET winner = 'model_b'", "DELETE FROM votes"):
            with pytest.raises(sqlite3.IntegrityError, match="append-only"):
                con.execute(stmt)
    assert store.count() == 2


def simulate(true: dict[str, float], n: int, seed: int = 0, tie_rate: float = 0.1) -> list[tuple[str, str, str]]:
    """Battles drawn from the Bradley-Terry model itself, so the true ratings are known."""
    rng = random.Random(seed)
    names = list(true)
    out = []
    for _ in range(n):
        a, b = rng.sample(names, 2)
        if rng.random() < tie_rate:
            out.append((a, b, "tie"))
            continue
        p_a = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
        out.append((a, b, "model_a" if rng.random() < p_a else "model_b"))
    return out


TRUE = {"strong": 1200.0, "middle": 1000.0, "weak": 800.0}  # mean 1000, as the fit centres its ratings


def test_bradley_terry_recovers_known_ratings_with_intervals_covering_the_truth():
    # no ties here: ties drawn at random, whatever the strengths, are not Bradley-Terry and pull ratings together
    rows = ratings.ratings(simulate(TRUE, 1500, tie_rate=0.0), method="bt", rounds=200, seed=1)
    assert [r["model"] for r in rows] == ["strong", "middle", "weak"]
    for r in rows:
        lo, hi = r["ci"]
        assert lo <= TRUE[r["model"]] <= hi, r
        assert lo <= r["rating"] <= hi and hi - lo < 120
    assert sum(r["votes"] for r in rows) == 2 * 1500


def test_intervals_shrink_with_more_votes_and_order_does_not_matter_for_bt():
    few = {r["model"]: r for r in ratings.ratings(simulate(TRUE, 60), rounds=100)}
    many = {r["model"]: r for r in ratings.ratings(simulate(TRUE, 1500), rounds=100)}
    width = lambda r: r["ci"][1] - r["ci"][0]
    assert all(width(many[m]) < width(few[m]) for m in TRUE)
    battles = simulate(TRUE, 300)
    shuffled = random.Random(3).sample(battles, len(battles))
    bt1, bt2 = ratings.bradley_terry(battles), ratings.bradley_terry(shuffled)
    assert all(abs(bt1[m] - bt2[m]) < 1e-3 for m in TRUE)
    elo1, elo2 = ratings.online_elo(battles), ratings.online_elo(shuffled)
    assert max(elo1, key=elo1.get) == "strong" and any(abs(elo1[m] - elo2[m]) > 1 for m in TRUE)  # Elo: order matters


def test_hand_worked_cases():
    # one pair, A wins 3 of 4: BT gives p = 0.75 -> a gap of 400*log10(3) = 190.8 (minus a touch of the L2 prior)
    r = ratings.bradley_terry([("a", "b", "model_a")] * 3 + [("a", "b", "model_b")])
    assert 185 < r["a"] - r["b"] < 191 and abs(r["a"] + r["b"] - 2000) < 1e-6
    # all ties: equal ratings; one model that won everything: finite, above
    tie = ratings.bradley_terry([("a", "b", "tie")] * 5)
    assert abs(tie["a"] - tie["b"]) < 1e-6
    sweep = ratings.bradley_terry([("a", "b", "model_a")] * 10)
    assert 1000 < sweep["a"] < 2000
    # online Elo, K=32: equal start, A wins once: +16 / -16
    assert ratings.online_elo([("a", "b", "model_a")]) == {"a": 1016.0, "b": 984.0}
    assert ratings.ratings([]) == []
    assert ratings.win_rates([("a", "b", "model_a"), ("b", "a", "tie")]) == {"a": {"b": 0.75}, "b": {"a": 0.25}}
    with pytest.raises(InputError):
        ratings.ratings([("a", "b", "A")])


def test_a_battle_is_blind_until_the_vote(tmp_path):
    a, b = ModelSpec("model-one", "fake"), ModelSpec("model-two", "fake")
    replies = {"model-one": "Rain taps the window.", "model-two": "Clouds weep."}
    battle = arena.new_battle([a, b], "Write a haiku about rain", rng=random.Random(0))
    battle = arena.answer(battle, build=lambda s: FakeProvider([replies[s.label]]))
    assert {battle.answer_a, battle.answer_b} == set(replies.values())
    assert battle.answer_a == replies[battle.model_a.label]
    store = arena.VoteStore(tmp_path / "a.db")
    arena.vote(store, battle, "b", voter="s1")
    assert store.battles() == [(battle.model_a.label, battle.model_b.label, "model_b")]
    with pytest.raises(InputError, match="already"):
        arena.vote(store, battle, "a")
    with pytest.raises(InputError, match="two different"):
        arena.new_battle([a, a], "hi")
    failing = arena.answer(arena.new_battle([a, b], "hi"), build=lambda s: FakeProvider([]))
    assert failing.errors
    with pytest.raises(InputError, match="failed"):
        arena.vote(store, failing, "a")
    assert store.count() == 1
