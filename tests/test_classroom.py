"""Classroom safety: the token budget on deployment keys, and the fair queue in front of the local model."""

from __future__ import annotations

import threading
import time

import pytest

from lab.classroom.budget import BudgetedProvider, TokenBudget
from lab.classroom.queue import GenerationQueue, QueuedProvider
from lab.core.errors import BudgetExceeded
from lab.llm import run
from lab.llm.fake import FakeProvider

Q = [{"role": "user", "content": "one two three"}]  # the fake counts 3 prompt tokens (words)


def test_budget_charges_usage_and_refuses_past_the_session_limit():
    budget = TokenBudget(per_session=10, total=0)
    p = BudgetedProvider(FakeProvider(["a b c", "d e f", "never sent"]), budget, "alice")
    run(p, Q)  # 3 in + 3 out
    assert budget.used("alice") == 6
    run(p, Q)  # crosses the line: 12; a request already started completes
    with pytest.raises(BudgetExceeded, match="12 of its 10 tokens"):
        run(p, Q)
    assert len(p.inner.calls) == 2  # the refused request never reached the provider


def test_budget_global_pool_stops_everyone_but_sessions_are_separate():
    budget = TokenBudget(per_session=100, total=10)
    alice = BudgetedProvider(FakeProvider(["a b c d e f g"]), budget, "alice")
    bob = BudgetedProvider(FakeProvider(["x"]), budget, "bob")
    run(alice, Q)  # 3 + 7 = 10: the pool is spent
    assert budget.used("bob") == 0
    with pytest.raises(BudgetExceeded, match="The class has used 10 of the 10"):
        run(bob, Q)


def test_zero_means_unlimited():
    budget = TokenBudget(per_session=0, total=0)
    p = BudgetedProvider(FakeProvider(default="ok"), budget, "s")
    for _ in range(5):
        run(p, Q)
    assert budget.used("s") == 20


class SlowFake(FakeProvider):
    """Records how many generations overlap."""

    active = 0
    peak = 0
    lock = threading.Lock()

    def stream(self, *a, **kw):
        with SlowFake.lock:
            SlowFake.active += 1
            SlowFake.peak = max(SlowFake.peak, SlowFake.active)
        try:
            time.sleep(0.05)
            yield from super().stream(*a, **kw)
        finally:
            with SlowFake.lock:
                SlowFake.active -= 1


def test_queue_caps_concurrency_and_reports_positions():
    queue = GenerationQueue(concurrency=2)
    positions: dict[int, list[int]] = {}
    errors = []

    def student(i):
        try:
            p = QueuedProvider(
                SlowFake(default="hello"), queue, lambda pos, i=i: positions.setdefault(i, []).append(pos)
            )
            run(p, Q)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=student, args=(i,)) for i in range(8)]
    [t.start() for t in threads]
    [t.join(timeout=30) for t in threads]
    assert not errors
    assert SlowFake.peak == 2  # never more than the limit at once
    assert all(p[-1] == 0 for p in positions.values())  # each was told when its turn came
    waited = [p for p in positions.values() if len(p) > 1]
    assert waited and all(p[0] >= 1 for p in waited)  # those who waited saw a place in line
    assert all(p[:-1] == sorted(p[:-1], reverse=True) for p in waited)  # and it only moved forward
    assert queue.waiting() == 0


def hold_the_slot(queue: GenerationQueue) -> tuple[threading.Event, threading.Thread]:
    """A thread that takes the queue's one slot and keeps it until the returned gate is set."""
    gate = threading.Event()

    def hold():
        with queue.slot():
            gate.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    return gate, holder


def test_queue_is_first_come_first_served():
    queue = GenerationQueue(concurrency=1)
    order = []
    gate, holder = hold_the_slot(queue)

    def later(i):
        with queue.slot():
            order.append(i)

    threads = []
    for i in range(4):
        t = threading.Thread(target=later, args=(i,))
        t.start()
        threads.append(t)
        time.sleep(0.05)  # arrive in order 0, 1, 2, 3
    gate.set()
    [t.join(timeout=10) for t in threads + [holder]]
    assert order == [0, 1, 2, 3]


def test_a_student_who_leaves_the_line_does_not_block_the_ones_behind():
    """Streamlit stops a script (reload, second click) by raising inside it - often in on_wait itself."""
    queue = GenerationQueue(concurrency=1)
    gate, served = threading.Event(), []

    def hold():
        with queue.slot():
            gate.wait(5)

    class Rerun(Exception):
        pass

    def leaver(pos):
        if pos:
            raise Rerun

    holder = threading.Thread(target=hold)
    holder.start()
    time.sleep(0.05)
    with pytest.raises(Rerun):
        with queue.slot(leaver):
            pass
    assert queue.waiting() == 0  # the ticket left with its student

    def later():
        with queue.slot():
            served.append(1)

    t = threading.Thread(target=later)
    t.start()
    gate.set()
    t.join(timeout=5)
    holder.join(timeout=5)
    assert served == [1]


def test_queue_estimates_the_wait_from_recent_turns():
    queue = GenerationQueue(concurrency=2)
    assert queue.estimate_s(1) is None  # nothing to go on yet
    for _ in range(3):
        with queue.slot():
            time.sleep(0.05)
    assert 0.04 <= queue.estimate_s(1) <= 0.5  # one turn's worth ahead (two run at once)
    assert queue.estimate_s(4) == pytest.approx(2 * queue.estimate_s(1), abs=0.11)


def test_queued_reply_says_how_long_it_waited_in_line():
    """The wait for a slot is stamped on the reply's usage: a page can tell the line from the model's own time."""
    queue = GenerationQueue(concurrency=1)
    gate, holder = hold_the_slot(queue)
    threading.Timer(0.4, gate.set).start()
    waited = run(QueuedProvider(FakeProvider(default="hello"), queue), Q)
    holder.join(5)
    alone = run(QueuedProvider(FakeProvider(default="hello"), queue), Q)
    assert waited.usage.queue_s >= 0.3
    assert alone.usage.queue_s < 0.1
    assert "waited" in waited.usage.line() and "waited" not in alone.usage.line()


def test_the_app_does_not_force_a_full_collection_after_every_rerun():
    """Streamlit's default gc.collect(2) after each script run held the GIL for 84% of the app's busy time under
    30 students (py-spy, bench/load.py): every page, stream and embedding waited on it. The app's config turns it
    off, and Streamlit must read it as off."""
    import tomllib
    from pathlib import Path

    from streamlit import config

    root = Path(__file__).resolve().parent.parent
    assert tomllib.loads((root / ".streamlit" / "config.toml").read_text())["runner"]["postScriptGC"] is False
    assert "runner.postScriptGC" in config._config_options_template  # still an option this Streamlit knows
