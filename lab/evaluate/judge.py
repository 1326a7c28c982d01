"""Is an answer right? Two ways: look for accepted strings, or ask a judge model.

Keyword checks are cheap, exact and reproducible, and blind to paraphrase; a judge reads meaning, costs a call
and can be wrong itself (it is a model). The suite uses keywords always and the judge only when one is set; the
judge is the RAG lab's own (``lab.rag.judge``), its 1-5 grades turned into right / wrong here.

    >>> mentions("The capital of France is Paris.", ["Paris"])
    True
    >>> mentions("There are 18 of them.", ["8", "eight"])        # whole words only: 18 is not 8
    False
    >>> contains_all("Revenue was $55.1 million in 2022.", ["$55.1 million"])
    True
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lab.llm.base import Provider

PASS = 4  # a judged answer is right when accuracy and completeness are both at least 4 of 5


def mentions(text: str, accepted: list[str]) -> bool:
    """Any accepted string, as a whole word/phrase, case-insensitive."""
    return any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", text or "", re.I) for a in accepted)


def contains_all(text: str, keywords: list[str]) -> bool:
    """Every keyword as a substring, case-insensitive (RAG keywords are exact facts like '$55.1 million')."""
    low = (text or "").lower()
    return all(k.lower() in low for k in keywords)


@dataclass
class Judge:
    """A model that grades answers with the RAG lab's rubric (``lab.rag.judge``: accuracy, completeness and
    relevance from 1 to 5, decoded under a JSON schema); ``label`` names it in tables."""

    provider: Provider
    model: str | None = None
    label: str = "judge"

    def grade(self, question, answer: str) -> tuple[bool, str]:
        """``question``: a RAG ``EvalQuestion`` (its keywords are the facts). Right when accuracy and completeness
        are both >= PASS; no grades (the judge failed, or did not reply with JSON) is not a pass."""
        from lab.rag.judge import judge_answer

        r = judge_answer(question, answer, self.provider, model=self.model)
        if r.accuracy is None or r.completeness is None:
            return False, f"no verdict: {r.reason}"
        return (
            r.accuracy >= PASS and r.completeness >= PASS,
            f"accuracy {r.accuracy}/5, completeness {r.completeness}/5: {r.reason}",
        )
