"""TODO doc for lab.tools.loop"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Literal


from lab.core.errors import InputError
from lab.llm.base import Message, Options, Provider, Usage, run
from lab.tools.constrained import constrained_messages, constrained_schema, parse_constrained
from lab.tools.registry import CallRecord, ToolRegistry


MAX_ROUNDS = 10  # the page's slider and the CLI accept 1..MAX_ROUNDS model requests per question
Strategy = Literal["auto", "native", "constrained"]


@dataclass
class Round:
    """One request to the model and what followed it."""

    index: int
    sent: list[Message]                    # exactly what the provider was given this round
    reply_text: str                        # the model's raw text (the JSON itself, in the constrained strategy)
    assistant: Message                     # the reply as an OpenAI-shaped assistant message
    usage: Usage
    calls: list[CallRecord] = field(default_factory=list)
    json_schema: dict | None = None        # the constrained strategy's schema for this request


@dataclass
class LoopResult:
    answer: str
    messages: list[Message]                # the whole conversation, OpenAI-shaped (the CLI's "trace")
    rounds: list[Round]
    stopped: str                           # "answer" or "max_rounds"
    strategy: str

    def to_dict(self) -> dict:
        return {"answer": self.answer, "trace": self.messages}


def pick_strategy(provider: Provider, strategy: Strategy = "auto") -> str:
    if strategy not in ("auto", "native", "constrained"):
        raise InputError(f"Unknown tool strategy {strategy!r}; use auto, native or constrained.")
    if strategy == "auto":
        return "constrained" if provider.name == "local" else "native"
    return strategy


def run_tools(provider: Provider, messages: list[Message], registry: ToolRegistry, *, model: str | None = None,
              options: Options | None = None, max_rounds: int = 5, strategy: Strategy = "auto",
              on_round: Callable[[Round], None] | None = None) -> LoopResult:
    """Ask, run the requested tools, ask again... until the model answers or ``max_rounds`` requests were sent.

    When the last allowed request still asks for tools, those calls are *not* run (a booking must not happen
    after the lab has stopped listening); each gets a tool message saying so, which keeps the conversation
    valid for a follow-up question, and ``stopped`` is ``"max_rounds"`` with an empty answer.
    """
    if not 1 <= max_rounds <= MAX_ROUNDS:
        raise InputError(f"max_rounds must be between 1 and {MAX_ROUNDS} (got {max_rounds}).")
    chosen = pick_strategy(provider, strategy)
    options = options or Options()
    convo = [dict(m) for m in messages]
    rounds: list[Round] = []
    for i in range(1, max_rounds + 1):
        if chosen == "constrained":
            # Once every call of the last round succeeded, ask for an answer only: a 135M model otherwise
            # repeats the call it just made until the round limit (measured; see ANSWER_NUDGE). A failed call
            # keeps the tools open, so the model may retry with better arguments.
            answer_only = bool(rounds) and all(c.status == "ok" for c in rounds[-1].calls)
            sent = constrained_messages(convo, registry, answer_only)
            schema = constrained_schema(registry, answer_only)
            reply = run(provider, sent, model=model, options=options.model_copy(update={"json_schema": schema}))
            text, calls = parse_constrained(reply.text, f"call_r{i}")
        else:
            sent, schema = [dict(m) for m in convo], None
            if provider.name == "local":  # GGUF Jinja templates concatenate content: None would crash them
                sent = [{**m, "content": m.get("content") or ""} for m in sent]
            reply = run(provider, sent, model=model, options=options, tools=registry.schemas() or None)
            text, calls = reply.text, reply.tool_calls
        assistant: Message = {"role": "assistant", "content": text or None}
        if calls:
            assistant["tool_calls"] = [c.to_openai() for c in calls]
        convo.append(assistant)
        rnd = Round(i, sent, reply.text, assistant, reply.usage, json_schema=schema)
        rounds.append(rnd)
        if not calls:
            if on_round:
                on_round(rnd)
            return LoopResult(text, convo, rounds, "answer", chosen)
        for call in calls:
            rec = registry.execute(call) if i < max_rounds else CallRecord(
                call.id, call.name, call.arguments, "not_run",
                f"Not run: the lab stopped after {max_rounds} rounds (the round limit).")
            rnd.calls.append(rec)
            convo.append({"role": "tool", "tool_call_id": call.id, "content": rec.content})
        if on_round:
            on_round(rnd)
    return LoopResult("", convo, rounds, "max_rounds", chosen)
