"""The suite's tasks, each built from a lab's own task and scored 0..1 per case (the task's score is the mean).

    general  20 general-knowledge questions; right when the answer names an accepted answer (data/general_qa.jsonl)
    json     8 extraction prompts, each with a JSON Schema; right when the reply parses and validates (no repair)
    tools    12 FlightAI questions with the expected first call (data/tool_questions.jsonl); right when the model's
             first call has the expected tool and arguments (one "hello" expects no call). The call is not run:
             nothing is booked.
    pricer   the Pricer's first N test items; right when the guess is green (within $40 or 20%): the hit rate
    rag      the RAG lab's evaluation questions; right when the answer holds every keyword, or the judge says so

By default each task runs a spread-out part of its set (10 / 6 / 8 / 8 / 5 cases: the whole suite over three local
rungs fits in minutes on 2 cores); ``n`` asks for more (the sets hold 20 / 8 / 12 / all test items / 48).

Worked example with a scripted model (two questions, one right):

    >>> from lab.llm.fake import FakeProvider
    >>> task = GeneralTask()
    >>> cases = task.cases(2)
    >>> [task.run(FakeProvider(["Paris."]), None, cases[0]).score, task.run(FakeProvider(["Kyoto"]), None, cases[1]).score]
    [1.0, 0.0]
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from lab.core.errors import InputError
from lab.evaluate.judge import Judge, contains_all, mentions
from lab.llm.base import DEFAULT_SYSTEM, Options, Provider, run

DATA = Path(__file__).with_name("data")
SYSTEM = DEFAULT_SYSTEM  # the CLI's chat default: SmolLM2 stays on topic with it


@dataclass
class CaseResult:
    prompt: str
    expected: str
    got: str
    score: float  # 1.0 right, 0.0 wrong (a task may give partial credit)
    error: str = ""


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (DATA / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def spread(items: list, n: int | None) -> list:
    """``n`` items spread evenly over the list (all of them when n is None or too big), order kept."""
    if n is None or n >= len(items):
        return list(items)
    if n < 1:
        raise InputError("Ask for at least one case per task.")
    return [items[i * len(items) // n] for i in range(n)]


class Task:
    name = ""
    what = ""
    default_n: int | None = None

    def cases(self, n: int | None = None) -> list:
        raise NotImplementedError

    def prepare(self, say: Callable[[str], None]) -> None:
        """Load what every model shares (data, an index) once, before the first model runs."""

    def run(self, provider: Provider, model: str | None, case: Any) -> CaseResult:
        raise NotImplementedError


class GeneralTask(Task):
    name, what, default_n = "general", "General knowledge: the answer names an accepted answer", 10

    def cases(self, n=None):
        return spread(_jsonl("general_qa.jsonl"), n or self.default_n)

    def run(self, provider, model, case):
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": case["question"]}]
        text = run(provider, msgs, model=model, options=Options(temperature=0.0, max_tokens=32)).text
        return CaseResult(case["question"], " / ".join(case["accepted"]), text, float(mentions(text, case["accepted"])))


class JsonTask(Task):
    name, what, default_n = "json", "JSON-schema validity: the reply parses and validates, first try", 6

    def cases(self, n=None):
        return spread(_jsonl("json_cases.jsonl"), n or self.default_n)

    def run(self, provider, model, case):
        from lab.prompting.structured import Schema, structured

        msgs = [
            {
                "role": "system",
                "content": "Extract the information from the text as one JSON object with the "
                f"fields {', '.join(case['schema']['properties'])}.",
            },
            {"role": "user", "content": case["prompt"]},
        ]
        r = structured(
            provider,
            msgs,
            Schema.from_json_schema(case["schema"]),
            model=model,
            repair=False,
            options=Options(temperature=0.0, max_tokens=160),
        )
        return CaseResult(
            case["prompt"],
            "valid JSON",
            r.attempts[-1] if r.attempts else "",
            float(r.ok),
            "" if r.ok else r.errors[-1],
        )


TOOL_EXTRAS = ["list_destinations", "get_local_time", "convert_currency"]


def _same(expected: Any, got: Any) -> bool:
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        try:
            return abs(float(got) - float(expected)) < 1e-6
        except (TypeError, ValueError):
            return False
    return str(got).strip().lower() == str(expected).strip().lower()


def call_text(name: str | None, args: dict | str | None) -> str:
    if name is None:
        return "no call (an answer)"
    if isinstance(args, str):
        return f"{name}({args})"
    return f"{name}({', '.join(f'{k}={v}' for k, v in (args or {}).items())})"


def right_call(expected: dict | None, name: str | None, arguments: str | None) -> bool:
    """The expected tool with every expected argument (strings case-insensitive, numbers equal); extra arguments
    the tool accepts are fine. ``expected=None`` means the right move is to answer without a tool."""
    if expected is None:
        return name is None
    if name != expected["name"]:
        return False
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return False
    return isinstance(args, dict) and all(k in args and _same(v, args[k]) for k, v in expected["arguments"].items())


class ToolsTask(Task):
    name, what, default_n = "tools", "FlightAI tool calls: the first call is the expected tool and arguments", 8

    def __init__(self, db=None) -> None:
        self.db = db

    def cases(self, n=None):
        # Departures a month or two ahead: FlightAI refuses dates outside its booking window (today + 2 years).
        today = datetime.date.today()
        dates = {"{date1}": today + datetime.timedelta(days=30), "{date2}": today + datetime.timedelta(days=61)}
        rows = []
        for row in _jsonl("tool_questions.jsonl"):
            text = json.dumps(row)
            for k, v in dates.items():
                text = text.replace(k, v.isoformat())
            rows.append(json.loads(text))
        return spread(rows, n or self.default_n)

    def prepare(self, say):
        from lab.core.settings import get_settings
        from lab.tools.flightai import FlightDB

        # Calls are never run (max_rounds=1), so this table is only read for the tools' schemas.
        self.db = self.db or FlightDB(get_settings().data_dir / "evaluate" / "flightai.db")

    def run(self, provider, model, case):
        from lab.tools.flightai import ask

        if self.db is None:
            self.prepare(lambda m: None)
        # One request: the model's first move is scored, and the lab stops before running it (no booking made).
        result = ask(
            provider,
            case["question"],
            db=self.db,
            extras=TOOL_EXTRAS,
            model=model,
            max_rounds=1,
            options=Options(temperature=0.0, max_tokens=96),
        )
        calls = result.rounds[0].calls
        name, args = (calls[0].name, calls[0].arguments) if calls else (None, None)
        exp = case["call"]
        got = call_text(name, args) if calls else f"answer: {result.rounds[0].reply_text[:200]}"
        return CaseResult(
            case["question"],
            call_text(exp and exp["name"], exp and exp["arguments"]),
            got,
            float(right_call(exp, name, args)),
        )


class PricerTask(Task):
    name, what, default_n = "pricer", "Pricer hit rate: the guess is within $40 or 20% of the price", 8

    def __init__(self, items=None) -> None:
        self.items = items

    def prepare(self, say):
        if self.items is None:
            from lab.pricer.data import offline

            say("Pricer: curating the offline product data (the Pricer lab's split)")
            self.items = offline().test

    def cases(self, n=None):
        self.prepare(lambda m: None)
        return list(self.items[: n or self.default_n])

    def run(self, provider, model, case):
        from lab.pricer.llm import price_items

        r = price_items(provider, [case], model=model)
        g = r.guesses[0]
        return CaseResult(
            case.title[:120],
            f"${case.price:,.2f}",
            g.reply.strip(),
            float(r.result["colors"][0] == "green"),
            "" if g.price is not None else "no price in the reply",
        )


class RagTask(Task):
    name, what, default_n = "rag", "RAG answers: every keyword present (or the judge agrees)", 5

    def __init__(self, index=None, judge: Judge | None = None, options=None) -> None:
        self.index, self.judge, self.options = index, judge, options

    def cases(self, n=None):
        from lab.rag.evaluation import load_questions

        return spread(load_questions(), n or self.default_n)

    def prepare(self, say):
        if self.index is None:
            from lab.rag.retrieval import get_index

            say("RAG: loading the FAISS index of the knowledge base (MiniLM embeddings, cached on disk)")
            self.index = get_index("faiss")

    def run(self, provider, model, case):
        from lab.rag.chain import ChatOptions, ask

        self.prepare(lambda m: None)
        opts = self.options or ChatOptions(k=2, max_tokens=48)  # 2 chunks: the RAG lab's MRR is 0.9
        a = ask(self.index, case.question, provider=provider, model=model, options=opts)
        ok, note = contains_all(a.answer, case.keywords), ""
        if self.judge is not None:
            ok, note = self.judge.grade(case, a.answer)
            note = f"{self.judge.label}: {note}"
        return CaseResult(case.question, "; ".join(case.keywords), a.answer, float(ok), note)


TASKS: dict[str, type[Task]] = {
    "general": GeneralTask,
    "json": JsonTask,
    "tools": ToolsTask,
    "pricer": PricerTask,
    "rag": RagTask,
}


def parse_suite(names: str | list[str]) -> list[str]:
    items = [s.strip().lower() for s in (names.split(",") if isinstance(names, str) else names) if s.strip()]
    bad = [s for s in items if s not in TASKS]
    if bad or not items:
        head = f"Unknown task {bad[0]!r}" if bad else "Give at least one task"
        raise InputError(f"{head}; choose from {', '.join(TASKS)}.")
    return list(dict.fromkeys(items))
