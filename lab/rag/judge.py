"""LLM-as-judge: answer each evaluation question with the RAG chain, then have a (possibly other) model grade it.

Retrieval metrics (``evaluation.py``) say whether the right chunks came back; they say nothing about the
answer. The course's week 5 grades answers with a second model: for each question the judge sees the question,
the facts a correct answer needs (the question's keywords) and the answer, and returns

    {"accuracy": 1-5, "completeness": 1-5, "relevance": 1-5, "reason": "one sentence"}

decoded under that JSON schema (structured output; local models decode under it), so the grades are parsed,
never guessed. Keyword coverage of the answer itself is computed beside them, without a model: it is the cheap,
objective check the judge's opinion can be compared with.

    >>> from lab.llm.fake import FakeProvider
    >>> grader = FakeProvider(['{"accuracy": 5, "completeness": 4, "relevance": 5, "reason": "Correct price."}'])
    >>> q = EvalQuestion(question="What does the Agency tier cost?", expected_sources=["x"], keywords=["$38,000"])
    >>> r = judge_answer(q, "AquaLedger's Agency tier costs from $38,000 per year.", grader)
    >>> (r.accuracy, r.completeness, r.keyword_coverage)
    (5, 4, 1.0)

Grades from a 135M local model are noise; use a capable judge (``--judge-provider openai``) when you have one.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field

from lab.core.errors import LabError
from lab.llm.base import Options, run
from lab.rag.evaluation import EvalQuestion, keyword_coverage

JUDGE_SYSTEM = (
    "You are an expert evaluator of answers about Rainfold Systems. Grade the answer to the question "
    "against the facts a correct answer must contain. Scores are integers from 1 (very poor) to 5 "
    "(excellent). accuracy: are its statements correct? completeness: does it give all the required "
    "facts? relevance: does it answer this question without padding? Reply with JSON only."
)
JUDGE_SCHEMA = {
    "type": "object",
    "properties": {
        "accuracy": {"type": "integer", "minimum": 1, "maximum": 5},
        "completeness": {"type": "integer", "minimum": 1, "maximum": 5},
        "relevance": {"type": "integer", "minimum": 1, "maximum": 5},
        "reason": {"type": "string", "maxLength": 300},
    },
    "required": ["accuracy", "completeness", "relevance", "reason"],
}
SCORES = ("accuracy", "completeness", "relevance")


@dataclass
class JudgedAnswer:
    question: str
    answer: str
    accuracy: int | None
    completeness: int | None
    relevance: int | None
    reason: str
    keyword_coverage: float
    sources: list[str] = field(default_factory=list)
    kind: str = ""


def judge_messages(q: EvalQuestion, answer: str) -> list[dict]:
    facts = "; ".join(q.keywords) or "(no reference facts: judge relevance and plausibility only)"
    return [
        {"role": "system", "content": JUDGE_SYSTEM},
        {
            "role": "user",
            "content": f"Question: {q.question}\n\nFacts a correct answer must contain: {facts}\n\n"
            f"Answer to grade: {answer}\n\nJSON:",
        },
    ]


def parse_grades(text: str) -> dict:
    """The judge's JSON (the first {...} in its reply); scores clamped to 1-5; a reply that is not JSON
    gives no scores and says so in ``reason``."""
    m = re.search(r"\{.*\}", text or "", re.S)
    try:
        data = json.loads(m.group(0)) if m else None
        if not isinstance(data, dict):
            raise ValueError
    except ValueError:
        return {**{s: None for s in SCORES}, "reason": f"the judge did not reply with JSON: {(text or '')[:120]!r}"}
    out = {}
    for s in SCORES:
        try:
            out[s] = min(5, max(1, int(data.get(s))))
        except (TypeError, ValueError):
            out[s] = None
    out["reason"] = str(data.get("reason", ""))[:300]
    return out


def judge_answer(q: EvalQuestion, answer: str, judge, *, model: str | None = None, sources=None) -> JudgedAnswer:
    opts = Options(temperature=0.0, max_tokens=200, json_schema=JUDGE_SCHEMA, stream=False)
    try:
        reply = run(judge, judge_messages(q, answer), model=model, options=opts).text
        grades = parse_grades(reply)
    except LabError as e:
        grades = {**{s: None for s in SCORES}, "reason": f"the judge failed: {e}"}
    return JudgedAnswer(
        q.question,
        answer,
        grades["accuracy"],
        grades["completeness"],
        grades["relevance"],
        grades["reason"],
        keyword_coverage([answer], q.keywords),
        list(sources or []),
        q.kind,
    )


def _mean(xs) -> float | None:
    xs = [x for x in xs if x is not None]
    return round(sum(xs) / len(xs), 3) if xs else None


def judge_questions(
    index,
    questions: list[EvalQuestion],
    *,
    provider,
    judge,
    model: str | None = None,
    judge_model: str | None = None,
    k: int = 4,
    mode: str = "dense",
    on_progress=None,
) -> dict:
    """Answer every question with the RAG chain (``provider``), grade each with ``judge``; the CLI's JSON."""
    from lab.rag.chain import ChatOptions, ask

    rows = []
    for i, q in enumerate(questions, 1):
        if on_progress:
            on_progress(f"{i}/{len(questions)}: {q.question}")
        try:
            r = ask(index, q.question, provider=provider, model=model, options=ChatOptions(k=k, mode=mode))
            answer, sources = r.answer, r.sources
        except LabError as e:
            answer, sources = f"(no answer: {e})", []
        rows.append(judge_answer(q, answer, judge, model=judge_model, sources=sources))
    return {
        "answer_provider": getattr(provider, "name", ""),
        "judge_provider": getattr(judge, "name", ""),
        "questions": len(rows),
        "mode": mode,
        "k": k,
        **{s: _mean(getattr(r, s) for r in rows) for s in SCORES},
        "keyword_coverage": _mean(r.keyword_coverage for r in rows),
        "graded": sum(r.accuracy is not None for r in rows),
        "rows": [asdict(r) for r in rows],
    }
