"""The ensemble agent: three members' guesses -> one estimate, by the course's linear regression (+ min and max).

The regression is the Pricer lab's ``Ensemble``; what this module adds is *where its training data comes from*.
The Pricer's offline data (seeded split) is cut three ways, so nothing is scored on what it learned from:

    members' training items   train[60:]  the random forest fits on them; the "products" store holds them
    held-out items            train[:60]  each member prices them; the regression fits on those guesses
    test items                test        scoring only (``score_on_pricer_test``)

Every member's guess on an item is cached on disk by (member label, text), so a refit or a rescore after a
provider change asks only for what is new. A guess that is not a number stays ``None`` (never invented); the
regression's input for it is the other members' mean on that item.

    >>> agent = EnsembleAgent.create(get_provider("local"))            # doctest: +SKIP
    >>> r = agent.price("Sony WH-1000XM5 wireless noise cancelling headphones, 30 hour battery")
    >>> r.estimate, r.members, r.weights                               # doctest: +SKIP
    (301.2, {'specialist': 19.0, 'frontier': 348.0, 'random_forest': 286.4}, {'specialist': 0.01, ...})

The specialist trained on the whole Pricer training split when it is a fine-tune run: its guesses on the
held-out items are then optimistic (it saw them), which the regression may over-trust. The base model and Modal
service have no such leak. Said in the lab's README, measured in ``score_on_pricer_test``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.agents.framework import Agent
from lab.agents.members import ForestMember, FrontierMember, SpecialistMember
from lab.core.errors import LabError
from lab.llm.base import Provider
from lab.pricer.ensemble import Ensemble

HOLDOUT = 60
SEED = 42
NAMES = ("specialist", "frontier", "random_forest")


@dataclass
class Priced:
    estimate: float
    members: dict[str, float | None]
    weights: dict[str, float]
    seconds: dict[str, float] = field(default_factory=dict)
    replies: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "estimate": round(self.estimate, 2),
            "members": {k: None if v is None else round(v, 2) for k, v in self.members.items()},
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def splits(seed: int = SEED):
    """(members' training items, held-out items, test items) of the Pricer's offline data."""
    from lab.pricer.data import DataConfig, offline

    ds = offline(DataConfig(seed=seed))
    return ds.train[HOLDOUT:], ds.train[:HOLDOUT], ds.test


def agents_dir() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "agents"


class GuessCache:
    """{member label: {sha256(text): guess}} in one JSON file per label (shared: public data, same answers)."""

    _lock = threading.Lock()

    def __init__(self, label: str) -> None:
        slug = hashlib.sha256(label.encode()).hexdigest()[:16]
        self.path = agents_dir() / "guesses" / f"{slug}.json"
        try:
            self.rows = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.rows = {}

    @staticmethod
    def key(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()

    def save(self) -> None:
        """Merge into the file under a lock: several processes (CLI, app, a scorer) may price at once."""
        import fcntl

        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path.with_suffix(".lock"), "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    on_disk = json.loads(self.path.read_text())
                except (OSError, ValueError):
                    on_disk = {}
                self.rows = on_disk | self.rows
                tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}")
                tmp.write_text(json.dumps(self.rows))
                os.replace(tmp, self.path)


class EnsembleAgent(Agent):
    name = "Ensemble Agent"
    color = "yellow"

    def __init__(self, members: list, log=None) -> None:
        super().__init__(log)
        self.members = members
        self.ensemble: Ensemble | None = None

    @classmethod
    def create(
        cls,
        provider: Provider,
        *,
        model: str | None = None,
        specialist: str = "auto",
        runs_root: Path | None = None,
        log=None,
    ) -> "EnsembleAgent":
        """The three members over the Pricer's data: the forest and the products store built once, cached."""
        from lab.agents.products import get_store

        agent = cls([], log)
        train, _, _ = splits()
        store = get_store()
        t0 = time.perf_counter()
        agent.log(
            f"products store: {store.build(train)} products (raw chromadb, MiniLM vectors) "
            f"in {time.perf_counter() - t0:.1f} s"
        )
        spec = SpecialistMember(specialist, runs_root)
        forest = ForestMember.fit_or_load(train, SEED)
        agent.members = [spec, FrontierMember(provider, store, model), forest]
        for m in agent.members:
            agent.log(f"{m.name}: {m.label}")
        return agent

    def for_cycle(self, provider: Provider, log=None) -> "EnsembleAgent":
        """A light copy for one cycle: the same fitted regression and loaded models, this cycle's provider (a
        session's queue-aware wrapper) for the frontier member, and this cycle's log. The shared original is
        never changed, so sessions running cycles at once do not swap each other's providers."""
        import copy

        members = []
        for m in self.members:
            m = copy.copy(m)
            if isinstance(m, FrontierMember):
                m.provider = provider
            members.append(m)
        agent = EnsembleAgent(members, log)
        agent.ensemble = self.ensemble
        return agent

    # -------------------------------------------------------------------------------- guesses
    def guesses(self, items, progress: Callable[[str], None] | None = None) -> dict[str, list[float | None]]:
        """Each member's guess for each item (from the cache when it has one)."""
        out: dict[str, list[float | None]] = {}
        for m in self.members:
            cache = GuessCache(m.label)
            todo = [it for it in items if GuessCache.key(it.text) not in cache.rows]
            if todo:
                self.log(f"{m.name} prices {len(todo)} item(s) not in its cache")
            for i, it in enumerate(todo, 1):
                cache.rows[GuessCache.key(it.text)] = m.price(it.text)[0]
                if progress and (i % 10 == 0 or i == len(todo)):
                    progress(f"{m.name}: {i}/{len(todo)}")
                if i % 10 == 0:
                    cache.save()
            if todo:
                cache.save()
            out[m.name] = [cache.rows[GuessCache.key(it.text)] for it in items]
        return out

    def fit(self, progress: Callable[[str], None] | None = None, items=None) -> Ensemble:
        """Fit the regression on the members' guesses for the held-out items (cached guesses make a refit instant).
        ``items``: other held-out items (Pricer ``Item``s with true prices) instead of the default split's."""
        held = items if items is not None else splits()[1]
        t0 = time.perf_counter()
        preds = self.guesses(held, progress)
        self.ensemble = Ensemble().fit(preds, [it.price for it in held])
        w = self.ensemble.weights()
        self.log(
            f"fitted on {len(held)} held-out items in {time.perf_counter() - t0:.1f} s; weights: "
            + ", ".join(f"{k} {v:+.3f}" for k, v in w.items())
        )
        return self.ensemble

    def weights(self) -> dict[str, float]:
        return self.ensemble.weights() if self.ensemble else {}

    # -------------------------------------------------------------------------------- pricing
    def price(self, description: str) -> Priced:
        if self.ensemble is None:
            self.fit()
        guesses: dict[str, float | None] = {}
        seconds, replies = {}, {}
        for m in self.members:
            t0 = time.perf_counter()
            try:
                value, reply = m.price(description)
            except LabError as e:
                value, reply = None, f"error: {e}"
                self.log(f"{m.name} failed: {e}")
            seconds[m.name] = time.perf_counter() - t0
            guesses[m.name], replies[m.name] = value, reply
        if all(v is None for v in guesses.values()):
            raise LabError("No member gave a price for this description; the ensemble has nothing to combine.")
        estimate = self.ensemble.predict({k: [v] for k, v in guesses.items()})[0]
        self.log(
            f"${estimate:,.2f} from "
            + ", ".join(
                f"{k} {'no number' if v is None else f'${v:,.2f}'} ({seconds[k]:.1f} s)" for k, v in guesses.items()
            )
        )
        return Priced(estimate, guesses, self.weights(), seconds, replies)


def score_on_pricer_test(
    provider: Provider | None = None,
    *,
    model: str | None = None,
    specialist: str = "auto",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Score the agents' ensemble on the Pricer lab's test split, beside each member and the constant baseline.

    Returns {"n", "results": {name: pricer score dict}, "summary": [{"name", "mae", "rmsle", "hit_rate",
    "ratio_to_constant"}], "weights", "labels", "truth", "preds"}. ``results`` holds the full
    ``lab.pricer.metrics.score`` dicts, so the Pricer page can put them on its scoreboard as they are.
    """
    from lab.llm import get_provider
    from lab.pricer.metrics import score, summary

    provider = provider or get_provider("local")
    agent = EnsembleAgent.create(provider, model=model, specialist=specialist)
    agent.fit(progress)
    train, held, test = splits()
    preds = agent.guesses(test, progress)
    truth = [it.price for it in test]
    constant = sum(it.price for it in train + held) / len(train + held)
    results = {name: score(truth, preds[name]) for name in NAMES}
    ensemble_preds = agent.ensemble.predict(preds)
    results["ensemble"] = score(truth, ensemble_preds)
    results["constant (train mean)"] = score(truth, [constant] * len(test))
    base = results["constant (train mean)"]["mae"]
    rows = [summary(name, r) | {"ratio_to_constant": round(r["mae"] / base, 3)} for name, r in results.items()]
    return {
        "n": len(test),
        "results": results,
        "summary": sorted(rows, key=lambda r: r["mae"]),
        "weights": agent.weights(),
        "labels": {m.name: m.label for m in agent.members},
        "truth": truth,
        "preds": preds | {"ensemble": ensemble_preds},
    }
