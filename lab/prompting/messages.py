"""Build the ``messages`` list: a system prompt, zero/one/multi-shot examples, and context injected by keyword.

>>> shots = [Shot("I love this hat!", "positive")]
>>> build_messages("Classify the sentiment.", "The shoes fell apart.", shots=shots, style="turns")
[{'role': 'system', 'content': 'Classify the sentiment.'}, {'role': 'user', 'content': 'I love this hat!'}, {'role': 'assistant', 'content': 'positive'}, {'role': 'user', 'content': 'The shoes fell apart.'}]
>>> build_messages("Classify the sentiment.", "The shoes fell apart.", shots=shots, style="system")[0]["content"]
'Classify the sentiment.\\n\\nExamples:\\nUser: I love this hat!\\nAssistant: positive'
>>> inject_context([{"role": "user", "content": "Do you have a belt?"}], DEFAULT_RULES)[0]["role"]
'system'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from lab.core.errors import InputError
from lab.llm.base import DEFAULT_SYSTEM, Message

# System prompts from the course. The last line of each is what a 135M model can still follow.
PRESETS: dict[str, str] = {
    "Brief and factual": DEFAULT_SYSTEM,  # the chat's default (lab.llm.base: what a 135M model needs)
    "Snarky assistant": "You are a snarky assistant. Give short, snarky, humorous answers that are still correct.",
    "Helpful shop assistant": (
        "You are a helpful assistant in a clothes store. You should try to gently encourage the customer to try "
        "items that are on sale. Hats are 60% off, and most other items are 50% off. For example, if the customer "
        "says 'I'm looking to buy a hat', you could reply something like, 'Wonderful - we have lots of hats - "
        "including several that are part of our sales event.' Encourage the customer to buy hats if they are "
        "unsure what to get."
    ),
    "Say you don't know": (
        "You are a helpful assistant for an Airline called FlightAI. Give short, courteous answers, no more than "
        "1 sentence. Always be accurate. If you don't know the answer, say so."
    ),
}


@dataclass
class Shot:
    """One worked example: what a user said and the answer we want the model to imitate."""

    user: str
    assistant: str


SHOT_STYLES = {"turns": "as fictitious user/assistant turns", "system": "as context in the system prompt"}

EXAMPLE_SHOTS = [  # a task where shots visibly change the *format* of the answer
    Shot("I love this hat, it fits perfectly!", "positive"),
    Shot("The shoes fell apart after a week.", "negative"),
    Shot("The parcel arrived on Tuesday.", "neutral"),
]


def shots_label(n: int) -> str:
    return "zero-shot" if n == 0 else "one-shot" if n == 1 else f"multi-shot ({n} examples)"


def build_messages(
    system: str, user: str, *, shots: Iterable[Shot] = (), style: str = "turns", history: Iterable[Message] = ()
) -> list[Message]:
    """System prompt, then the shots (as turns or folded into the system prompt), the history, the user turn."""
    if style not in SHOT_STYLES:
        raise InputError(f"Unknown shot style {style!r}; use one of: {', '.join(SHOT_STYLES)}.")
    shots = list(shots)
    system = system.strip()
    if shots and style == "system":
        examples = "\n".join(f"User: {s.user}\nAssistant: {s.assistant}" for s in shots)
        system = f"{system}\n\nExamples:\n{examples}".strip()
    messages: list[Message] = [{"role": "system", "content": system}] if system else []
    if style == "turns":
        for s in shots:
            messages += [{"role": "user", "content": s.user}, {"role": "assistant", "content": s.assistant}]
    messages += [dict(m) for m in history]
    messages.append({"role": "user", "content": user})
    return messages


def load_shots(source: str | Path | list) -> list[Shot]:
    """Shots from a JSON list (a file path, a JSON string or the list itself), in either shape:
    ``[{"user": "...", "assistant": "..."}]`` or alternating ``[{"role": "user", ...}, {"role": "assistant", ...}]``."""
    data = source
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("[")):
        path = Path(source)
        if not path.exists():
            raise InputError(f"The shots file {path} does not exist.")
        data = path.read_text(encoding="utf-8")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as e:
            raise InputError(
                f"The shots are not valid JSON ({e.msg} at line {e.lineno}); expected a list of turns."
            ) from e
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise InputError('Shots must be a JSON list like [{"user": "...", "assistant": "..."}].')
    if all("user" in d and "assistant" in d for d in data):
        return [Shot(str(d["user"]), str(d["assistant"])) for d in data]
    roles = [d.get("role") for d in data]
    if len(data) % 2 == 0 and roles == ["user", "assistant"] * (len(data) // 2):
        return [Shot(str(u.get("content", "")), str(a.get("content", ""))) for u, a in zip(data[::2], data[1::2])]
    raise InputError(
        'Shots must be [{"user": ..., "assistant": ...}] or alternating user/assistant turns '
        '[{"role": "user", "content": ...}, {"role": "assistant", "content": ...}].'
    )


@dataclass
class Rule:
    """When the user's latest message mentions ``keyword``, add ``message`` as an extra system turn."""

    keyword: str
    message: str

    def matches(self, text: str) -> bool:
        # word start, any case: "belt" matches "Belts?" but not "unbelted"
        return bool(self.keyword.strip()) and re.search(rf"\b{re.escape(self.keyword.strip())}", text, re.I) is not None


DEFAULT_RULES = [
    Rule("belt", "The store does not sell belts; if you are asked for belts, be sure to point out other items on sale.")
]


def inject_context(messages: list[Message], rules: Iterable[Rule]) -> list[Message]:
    """A copy of ``messages`` with a system turn inserted just before the last user turn for each matching rule
    (before, not after: some chat templates and APIs want the conversation to end on the user)."""
    messages = [dict(m) for m in messages]
    idx = next((i for i in range(len(messages) - 1, -1, -1) if messages[i]["role"] == "user"), None)
    if idx is None:
        return messages
    text = str(messages[idx].get("content") or "")
    extra = [{"role": "system", "content": r.message} for r in rules if r.matches(text)]
    return messages[:idx] + extra + messages[idx:]
