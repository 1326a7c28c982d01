"""The blind arena: two anonymous models answer one prompt, the student votes, the class's votes add up.

As in the Chatbot Arena: the pair is drawn at random, the answers are shown as "A" and "B" (names hidden, so a
famous name cannot sway the vote), the vote is one of A / B / tie / both bad, and the names are revealed after.

    >>> store = VoteStore(tmp / "arena.db")
    >>> b = new_battle([spec_a, spec_b], "Write a haiku about rain", rng=random.Random(0))
    >>> b = answer(b, build=lambda s: s.build())     # both models answer, one after the other
    >>> store.add(b.model_a, b.model_b, "model_a")   # the student preferred A
    1
    >>> store.count(), store.battles()[0][2]
    (1, 'model_a')

**The store** is one SQLite file under the data directory (``<data_dir>/evaluate/arena.db``) that every session and
process of a deployment shares. It is append-only: a vote is one ``INSERT``, and triggers refuse ``UPDATE`` and
``DELETE``. It runs in WAL mode (readers never block the writer, a commit is one append to the log) with a busy
timeout, so thirty students voting at once queue for a few milliseconds each instead of failing; every connection
is opened per call (sqlite3 connections are per thread). Prompts are not stored - only who met whom and the
outcome - so the shared file holds nothing a student typed. WAL needs a local disk (not NFS).
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.core.errors import InputError
from lab.evaluate.models import ModelSpec
from lab.evaluate.ratings import WINNERS
from lab.llm.base import Options, Provider

VOTES = {"a": "model_a", "b": "model_b", "tie": "tie", "bad": "tie (bothbad)"}
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS votes (id INTEGER PRIMARY KEY AUTOINCREMENT, ts REAL NOT NULL, "
    "model_a TEXT NOT NULL, model_b TEXT NOT NULL, winner TEXT NOT NULL CHECK (winner IN "
    "('model_a', 'model_b', 'tie', 'tie (bothbad)')), voter TEXT NOT NULL DEFAULT '', CHECK (model_a <> model_b))",
    "CREATE TRIGGER IF NOT EXISTS votes_no_update BEFORE UPDATE ON votes BEGIN SELECT RAISE(ABORT, 'the arena is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS votes_no_delete BEFORE DELETE ON votes BEGIN SELECT RAISE(ABORT, 'the arena is append-only'); END",
]
_INIT_LOCK = threading.Lock()
_READY: set[str] = set()


def default_path() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "evaluate" / "arena.db"


class VoteStore:
    """The class's shared, append-only record of battles (see the module docstring)."""

    def __init__(self, path: str | Path | None = None, timeout_s: float = 30.0) -> None:
        self.path = Path(path) if path else default_path()
        self.timeout_s = timeout_s
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with _INIT_LOCK:  # once per file and process: every page render opens a store
            if str(self.path) not in _READY or not self.path.exists():
                self._retry(self._init)
                _READY.add(str(self.path))

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=self.timeout_s, isolation_level=None)  # autocommit; BEGIN by hand
        con.execute(f"PRAGMA busy_timeout = {int(self.timeout_s * 1000)}")
        return con

    def _init(self) -> None:
        with closing(self._connect()) as con:
            con.execute("PRAGMA journal_mode = WAL")  # persistent: set once, every later connection uses it
            con.execute("BEGIN IMMEDIATE")
            for stmt in SCHEMA:
                con.execute(stmt)
            con.execute("COMMIT")

    def _retry(self, fn):
        # Switching to WAL takes an exclusive lock and does not wait on the busy handler, and SQLite may answer
        # "locked" at once in a few other cases (a connection recovering the WAL index): retry until the timeout.
        # Safe for an INSERT: one that failed with "locked" did not commit, so a retry cannot count a vote twice.
        deadline = time.monotonic() + self.timeout_s
        while True:
            try:
                return fn()
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) and "busy" not in str(e) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01 + random.random() * 0.05)

    def add(self, model_a: str, model_b: str, winner: str, voter: str = "") -> int:
        """Append one vote; returns its id. ``winner``: model_a | model_b | tie | tie (bothbad) (or a|b|tie|bad)."""
        winner = VOTES.get(winner, winner)
        if winner not in WINNERS:
            raise InputError(f"Unknown vote {winner!r}; vote a, b, tie or bad.")
        if not model_a or not model_b or model_a == model_b:
            raise InputError("A vote needs two different models.")
        row = (time.time(), model_a[:200], model_b[:200], winner, voter[:64])

        def insert() -> int:
            with closing(self._connect()) as con:
                cur = con.execute("INSERT INTO votes (ts, model_a, model_b, winner, voter) VALUES (?, ?, ?, ?, ?)", row)
                return int(cur.lastrowid)

        return self._retry(insert)

    def battles(self) -> list[tuple[str, str, str]]:
        with closing(self._connect()) as con:
            return [tuple(r) for r in con.execute("SELECT model_a, model_b, winner FROM votes ORDER BY id")]

    def count(self, voter: str | None = None) -> int:
        with closing(self._connect()) as con:
            if voter is None:
                return con.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
            return con.execute("SELECT COUNT(*) FROM votes WHERE voter = ?", (voter,)).fetchone()[0]


@dataclass
class Battle:
    prompt: str
    model_a: ModelSpec
    model_b: ModelSpec
    answer_a: str = ""
    answer_b: str = ""
    errors: list[str] = field(default_factory=list)
    voted: str | None = None

    @property
    def names(self) -> tuple[str, str]:
        return self.model_a.label, self.model_b.label


def new_battle(models: list[ModelSpec], prompt: str, rng: random.Random | None = None) -> Battle:
    """Two different models drawn at random, in random order (the same pair shows either way round)."""
    if not prompt or not prompt.strip():
        raise InputError("Type a prompt for the two models first.")
    distinct = list({m.label: m for m in models}.values())
    if len(distinct) < 2:
        raise InputError("The arena needs at least two different models: add a rung, a GGUF or an API model.")
    a, b = (rng or random.Random()).sample(distinct, 2)
    return Battle(prompt.strip(), a, b)


def answer(
    battle: Battle,
    build: Callable[[ModelSpec], Provider] | None = None,
    options: Options | None = None,
    on_text: Callable[[int, str], None] | None = None,
) -> Battle:
    """Both models answer (``lab.prompting.compare``: one after the other; one failing does not stop the other)."""
    from lab.evaluate.tasks import SYSTEM
    from lab.prompting.compare import Target, compare

    build = build or (lambda s: s.build())
    msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": battle.prompt}]
    targets = [
        Target(side, (lambda s=spec: build(s)), spec.model_arg)
        for side, spec in (("A", battle.model_a), ("B", battle.model_b))
    ]
    outs = compare(targets, msgs, options or Options(temperature=0.7, max_tokens=256, seed=None), on_text=on_text)
    battle.answer_a, battle.answer_b = outs[0].text, outs[1].text
    battle.errors = [f"{o.label}: {o.error}" for o in outs if o.error]
    return battle


def vote(store: VoteStore, battle: Battle, choice: str, voter: str = "") -> int:
    """Record the vote (a, b, tie, bad) once; the caller then reveals ``battle.names``."""
    if battle.voted:
        raise InputError("This battle has already been voted on: start a new one.")
    if battle.errors:
        raise InputError("One of the models failed to answer: this battle cannot be judged fairly. Start a new one.")
    vid = store.add(battle.model_a.label, battle.model_b.label, choice, voter)
    battle.voted = VOTES.get(choice, choice)
    return vid
