"""One cycle of the deal hunter (the course's ``DealAgentFramework.run``): build the agents, plan, remember.

    >>> out = run_cycle(plan="fixed")                                  # doctest: +SKIP
    >>> [o["title"][:30] for o in out.opportunities], out.notified[0]["channels"]
    (['Poly Studio P21 21.5" 1080p Pe', ...], ['inbox'])

State lives in one folder: ``memory.json`` (surfaced opportunities) and ``inbox.json`` (messages). The CLI's is
``<data_dir>/agents``; a page passes its session's folder (``lab.classroom.sessions.session_dir(sid, "agents")``).
The ensemble (members, store, fitted regression) is built once per process and per (provider, model, specialist)
and shared: it holds no session's data, and its members guard their own models.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from lab.agents.framework import Log, LogLine, Memory
from lab.agents.messenger import Inbox, MessagingAgent
from lab.agents.planner import DEAL_THRESHOLD, PlanningAgent
from lab.agents.scanner import ScannerAgent
from lab.core.errors import InputError
from lab.llm.base import Provider

PLANS = ("fixed", "llm")
_ENSEMBLES: dict[tuple, object] = {}
_ENSEMBLE_LOCK = threading.Lock()


def state_dir(folder: Path | str | None = None) -> Path:
    from lab.core.settings import get_settings

    path = Path(folder) if folder else get_settings().data_dir / "agents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def memory_for(folder: Path | str | None = None) -> Memory:
    return Memory(state_dir(folder) / "memory.json")


def inbox_for(folder: Path | str | None = None) -> Inbox:
    return Inbox(state_dir(folder) / "inbox.json")


def get_ensemble(
    provider: Provider,
    *,
    model: str | None = None,
    specialist: str = "auto",
    runs_root: Path | None = None,
    log: Log | None = None,
    progress=None,
):
    """The fitted ensemble for these members (built and fitted once per process), as a copy for this cycle."""
    from lab.agents.ensemble import EnsembleAgent

    key = (provider.name, getattr(provider, "base_url", None), model, specialist, str(runs_root))
    with _ENSEMBLE_LOCK:
        agent = _ENSEMBLES.get(key)
        if agent is None:
            agent = EnsembleAgent.create(provider, model=model, specialist=specialist, runs_root=runs_root, log=log)
            agent.fit(progress)
            _ENSEMBLES[key] = agent
    return agent.for_cycle(provider, log)


@dataclass
class CycleResult:
    opportunities: list[dict] = field(default_factory=list)
    log: list[LogLine] = field(default_factory=list)
    notified: list[dict] = field(default_factory=list)
    scan: dict = field(default_factory=dict)
    weights: dict = field(default_factory=dict)
    members: dict = field(default_factory=dict)  # name -> label (which model answered)
    seconds: dict = field(default_factory=dict)  # total, setup, stages (scan, price, notify), per-member totals
    plan: str = "fixed"
    answer: str = ""

    def to_dict(self) -> dict:
        return {
            "opportunities": [
                {k: o[k] for k in ("title", "url", "price", "estimate", "discount", "members", "seconds", "source")}
                for o in self.opportunities
            ],
            "log": [{"agent": ln.agent, "message": ln.message} for ln in self.log],
            "notified": self.notified,
            "plan": self.plan,
            "scan": self.scan,
            "weights": {k: round(v, 4) for k, v in self.weights.items()},
            "member_labels": self.members,
            "seconds": self.seconds,
            "answer": self.answer,
        }


def run_cycle(
    plan: str = "fixed",
    provider: Provider | None = None,
    *,
    model: str | None = None,
    folder: Path | str | None = None,
    listener: Callable[[LogLine], None] | None = None,
    sources: Iterable[str | Path] | None = None,
    allow_networks: Iterable[str] = (),
    specialist: str = "auto",
    runs_root: Path | None = None,
    threshold: float = DEAL_THRESHOLD,
    n: int = 5,
    ntfy_url: str | None = None,
    ensemble=None,
) -> CycleResult:
    """Scan, price, notify, remember: one cycle. ``listener`` sees each log line as it is written.

    ``ensemble``: a ready ``EnsembleAgent`` (default: the shared one for this provider, built and fitted once)."""
    from lab.llm import get_provider

    if plan not in PLANS:
        raise InputError(f"Unknown plan {plan!r}; use one of: {', '.join(PLANS)}.")
    t0 = time.perf_counter()
    provider = provider or get_provider("local")
    log = Log(listener)
    log.write("Agent Framework", "orange", f"starting a cycle: {plan} plan, {provider.name} provider")
    memory = memory_for(folder)
    known = memory.urls()
    if known:
        log.write("Agent Framework", "orange", f"memory holds {len(known)} deal(s) surfaced before")
    if ensemble is None:
        ensemble = get_ensemble(provider, model=model, specialist=specialist, runs_root=runs_root, log=log)
    else:
        ensemble._log = log
    t_ready = time.perf_counter()
    scanner = ScannerAgent(log, sources=sources, allow_networks=allow_networks)
    messenger = MessagingAgent(
        inbox_for(folder), provider, log, model=model, allow_networks=allow_networks, ntfy_url=ntfy_url
    )
    planner = PlanningAgent(scanner, ensemble, messenger, provider, log, model=model, threshold=threshold, n=n)
    result = planner.plan(known) if plan == "fixed" else planner.plan_with_llm(known)
    added = memory.add(
        [{k: o[k] for k in ("title", "url", "price", "estimate", "discount", "members")} for o in result.opportunities]
    )
    total = time.perf_counter() - t0
    member_s: dict[str, float] = {}
    for o in result.opportunities:
        for k, v in o["seconds"].items():
            member_s[k] = round(member_s.get(k, 0.0) + v, 3)
    log.write(
        "Agent Framework",
        "orange",
        f"cycle done in {total:.1f} s: {len(result.opportunities)} opportunities "
        f"({added} remembered), {len(result.notified)} notification(s)",
    )
    return CycleResult(
        result.opportunities,
        log.lines,
        result.notified,
        result.scan.to_dict() if result.scan is not None else {},
        ensemble.weights(),
        {m.name: m.label for m in ensemble.members},
        {"total": round(total, 2), "setup": round(t_ready - t0, 2), **result.seconds, "members": member_s},
        plan,
        result.answer,
    )
