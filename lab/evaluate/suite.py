"""Models x tasks -> one row each: score, median latency, decode speed, file size, cost. Your own leaderboard.

Every request a task sends goes through a ``Recorder`` that keeps its ``Usage`` (the providers already measure time
to first token, total time and tokens), so speed is measured on the same requests that were scored:

- ``latency_ms_p50``: the median request time (prompt in, whole reply out), milliseconds;
- ``tok_s``: decode speed over all requests, sum(tokens after the first) / sum(time after the first token);
- ``bytes``: the GGUF's file size (None for an API model); ``cost_usd``: summed from the price table.

    >>> from lab.evaluate.models import ModelSpec
    >>> from lab.llm.fake import FakeProvider
    >>> spec = ModelSpec("fake:right", "fake", "scripted")
    >>> rows = run_suite([spec], ["general"], n=2, build=lambda s: FakeProvider(["Paris.", "9"]))
    >>> [(r.model, r.task, r.score, r.n) for r in rows]
    [('fake:right', 'general', 1.0, 2)]

A model that cannot answer at all (no key, server down) gets rows with ``error`` and no score; one failed
request (a timeout, a context overflow) scores that case 0 and keeps its error.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

from lab.core.errors import AuthError, LabError, MissingKeyError, ProviderUnavailable
from lab.evaluate.models import ModelSpec
from lab.evaluate.tasks import TASKS, CaseResult, Task
from lab.llm.base import Provider, Usage

Progress = Callable[[int, int, str], None]  # (cases done, cases in all, what is happening)
JSON_KEYS = ("model", "task", "score", "latency_ms_p50", "tok_s", "bytes")
FATAL = (MissingKeyError, AuthError, ProviderUnavailable)  # the model cannot answer anything: stop asking it


class Recorder:
    """A provider that passes every chunk through and keeps each reply's usage."""

    def __init__(self, inner: Provider) -> None:
        self.inner, self.usages = inner, []
        self.name = inner.name

    @property
    def default_model(self) -> str:
        return self.inner.default_model

    def stream(self, messages, *, model=None, options=None, tools=None):
        for chunk in self.inner.stream(messages, model=model, options=options, tools=tools):
            if chunk.usage:
                self.usages.append(chunk.usage)
            yield chunk


@dataclass
class Row:
    model: str
    task: str
    score: float | None
    n: int
    latency_ms_p50: float | None
    tok_s: float | None
    bytes: int | None
    cost_usd: float | None
    requests: int
    seconds: float
    error: str = ""
    cases: list[CaseResult] = field(default_factory=list)

    def to_json(self, details: bool = False) -> dict:
        out = {k: getattr(self, k) for k in JSON_KEYS}
        if details:
            out |= {
                "n": self.n,
                "cost_usd": self.cost_usd,
                "requests": self.requests,
                "seconds": self.seconds,
                "error": self.error,
                "cases": [c.__dict__ for c in self.cases],
            }
        return out


def speed(usages: list[Usage]) -> tuple[float | None, float | None]:
    """(median request latency in ms, decode tokens/s) over the requests.

    >>> speed([Usage(completion_tokens=11, ttft_s=0.1, total_s=0.6), Usage(completion_tokens=1, ttft_s=0.2, total_s=0.2)])
    (400.0, 20.0)
    """
    if not usages:
        return None, None
    p50 = round(statistics.median(u.total_s for u in usages) * 1000, 1)
    gen = [
        (u.completion_tokens - 1, u.total_s - u.ttft_s)
        for u in usages
        if u.ttft_s is not None and u.completion_tokens > 1 and u.total_s > u.ttft_s
    ]
    tokens, secs = sum(g[0] for g in gen), sum(g[1] for g in gen)
    return p50, (round(tokens / secs, 1) if secs > 0 else None)


def cost(usages: list[Usage]) -> float | None:
    """Summed cost; unknown (None) as soon as one request had no known price."""
    if any(u.cost_usd is None for u in usages):
        return None
    return round(sum(u.cost_usd for u in usages), 6)


def _label(case) -> str:
    if isinstance(case, dict):
        return str(case.get("question") or case.get("prompt") or case)[:120]
    return str(getattr(case, "question", None) or getattr(case, "title", case))[:120]


def make_tasks(names: list[str], judge=None) -> list[Task]:
    return [TASKS[n](judge=judge) if n == "rag" else TASKS[n]() for n in names]


def run_suite(
    models: list[ModelSpec],
    tasks: list[str] | list[Task],
    *,
    n: int | dict[str, int] | None = None,
    build: Callable[[ModelSpec], Provider] | None = None,
    on_progress: Progress | None = None,
    judge=None,
) -> list[Row]:
    """Run every task on every model, one model at a time (a local model is loaded once, then reused)."""
    tasks = make_tasks(tasks, judge) if tasks and isinstance(tasks[0], str) else list(tasks)
    build = build or (lambda spec: spec.build())
    say = on_progress or (lambda *_: None)
    for t in tasks:
        t.prepare(lambda m: say(0, 0, m))
    cases = {t.name: t.cases(n.get(t.name) if isinstance(n, dict) else n) for t in tasks}
    total, done = len(models) * sum(len(c) for c in cases.values()), 0
    rows: list[Row] = []
    for spec in models:
        fatal = ""
        try:
            provider = build(spec)
        except LabError as e:
            provider, fatal = None, str(e)
        for t in tasks:
            if fatal:
                rows.append(Row(spec.label, t.name, None, 0, None, None, spec.bytes, None, 0, 0.0, fatal))
                done += len(cases[t.name])
                continue
            rec, results, t0 = Recorder(provider), [], time.perf_counter()
            for i, case in enumerate(cases[t.name]):
                say(done, total, f"{spec.label} · {t.name} {i + 1}/{len(cases[t.name])}")
                try:
                    results.append(t.run(rec, spec.model_arg, case))
                except FATAL as e:
                    fatal = str(e)
                    break
                except LabError as e:  # this request failed; the case scores 0 and says why
                    results.append(CaseResult(_label(case), "", getattr(e, "partial_text", ""), 0.0, str(e)))
                done += 1
            p50, tok_s = speed(rec.usages)
            score = None if fatal else (sum(r.score for r in results) / len(results) if results else None)
            rows.append(
                Row(
                    spec.label,
                    t.name,
                    None if score is None else round(score, 4),
                    len(results),
                    p50,
                    tok_s,
                    spec.bytes,
                    cost(rec.usages),
                    len(rec.usages),
                    round(time.perf_counter() - t0, 2),
                    fatal,
                    results,
                )
            )
            if fatal:
                done += len(cases[t.name]) - len(results)
    say(total, total, "Done.")
    return rows


def summary(rows: list[Row]) -> list[dict]:
    """One line per model for the chart: mean score over its tasks, median latency, decode speed, size, cost."""
    out = []
    for model in dict.fromkeys(r.model for r in rows):
        mine = [r for r in rows if r.model == model and r.score is not None]
        if not mine:
            continue
        lat = [r.latency_ms_p50 for r in mine if r.latency_ms_p50 is not None]
        tps = [r.tok_s for r in mine if r.tok_s is not None]
        costs = [r.cost_usd for r in mine]
        out.append(
            {
                "model": model,
                "score": round(sum(r.score for r in mine) / len(mine), 4),
                "latency_ms_p50": statistics.median(lat) if lat else None,
                "tok_s": round(statistics.median(tps), 1) if tps else None,
                "bytes": mine[0].bytes,
                "cost_usd": None if any(c is None for c in costs) else round(sum(costs), 6),
                "tasks": len(mine),
            }
        )
    return out


def perf_chart(rows: list[Row], x: str = "latency_ms_p50"):
    """The LLM-Perf leaderboard's chart for your models: x latency (or tok/s), y score, bubble = file size.
    Good models sit top-left (latency) or top-right (tok/s) with small bubbles. A plotly figure."""
    import plotly.graph_objects as go

    pts = [p for p in summary(rows) if p[x] is not None]
    biggest = max((p["bytes"] or 0 for p in pts), default=0) or 1
    fig = go.Figure()
    for p in pts:
        size = 14 + 46 * ((p["bytes"] or biggest * 0.1) / biggest) ** 0.5
        mb = f"{p['bytes'] / 1e6:,.0f} MB" if p["bytes"] else "size unknown (API)"
        money = "" if not p["cost_usd"] else f"<br>cost ${p['cost_usd']:.4f}"
        fig.add_trace(
            go.Scatter(
                x=[p[x]],
                y=[p["score"]],
                mode="markers+text",
                text=[p["model"]],
                textposition="top center",
                name=p["model"],
                marker={"size": size, "opacity": 0.6, "symbol": "circle" if p["bytes"] else "diamond"},
                hovertemplate=f"{p['model']}<br>score %{{y:.2f}}<br>{x} %{{x}}<br>{mb}{money}<extra></extra>",
            )
        )
    fig.update_layout(
        xaxis_title={
            "latency_ms_p50": "median latency per request (ms) - left is faster",
            "tok_s": "decode speed (tokens/s) - right is faster",
        }.get(x, x),
        yaxis_title="mean score over tasks (0-1)",
        yaxis_range=[-0.05, 1.1],
        showlegend=False,
        height=420,
        margin={"t": 30},
    )
    return fig
