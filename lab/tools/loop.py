"""The tool loop: ask, run what the model asked for, append the result, ask again. A typed Python function becomes a JSON schema, and a loop runs what the model asks for.

A model cannot run code. It can only *ask*: "call get_ticket_price with {"destination": "Paris"}". The lab
validates that request, runs the function, appends the result as a ``tool`` message and asks again, until
the model answers in words or a round limit stops it. Worked example with a scripted model:

    >>> from typing import Annotated
    >>> from pydantic import Field
    >>> def get_ticket_price(destination: Annotated[str, Field(description="City to fly to")]) -> str:
    ...     '''Price of a return ticket to a city.'''
    ...     return {"paris": "$899"}.get(destination.lower(), "unknown")
    >>> from lab.tools.schema import function_schema
    >>> function_schema(get_ticket_price)["function"]["parameters"]
    {'additionalProperties': False, 'properties': {'destination': {'description': 'City to fly to', 'type': 'string'}}, 'required': ['destination'], 'type': 'object'}
    >>> from lab.llm.fake import FakeProvider
    >>> model = FakeProvider([{"tool_calls": [("get_ticket_price", {"destination": "Paris"})]}, "It costs $899."])
    >>> from lab.tools.registry import ToolRegistry
    >>> result = run_tools(model, [{"role": "user", "content": "Price to Paris?"}], ToolRegistry([get_ticket_price]))
    >>> [m["role"] for m in result.messages], result.answer
    (['user', 'assistant', 'tool', 'assistant'], 'It costs $899.')
    >>> result.messages[2]
    {'role': 'tool', 'tool_call_id': 'call_0', 'content': '$899'}

Two strategies, both ending in the same OpenAI-shaped trace:
- **native**: the provider's own tool API (OpenAI ``tools``/``tool_calls``, Anthropic ``tool_use`` blocks,
  Ollama ``tools``), translated by ``lab.llm``. Several calls may arrive in one turn.
- **constrained**, for the local SmolLM2: its GGUF chat template has no tool support at all (it ignores
  ``tools`` and renders ``message['content']`` only), and llama-cpp-python's ``chatml-function-calling``
  handler would need the shared ``Llama`` built with another ``chat_format`` (lab/llm/local.py builds one
  model for every lab) and does its own multi-pass prompting that a 135M model follows poorly. So the lab asks
  for JSON under a schema instead: llama.cpp turns ``{"tool": NAME, "arguments": {...}} | {"answer": TEXT}``
  into a grammar, so every reply *parses*, and pydantic then checks whether the arguments make sense. The
  conversation is shown to the model as plain turns (its JSON as the assistant turn, a tool result as a user
  turn), because a ``tool`` role is something it never saw in training. One call per round; once the
  calls succeeded, the next request may only answer (SmolLM2 otherwise repeats its call until the limit).
"""

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
    sent: list[Message]  # exactly what the provider was given this round
    reply_text: str  # the model's raw text (the JSON itself, in the constrained strategy)
    assistant: Message  # the reply as an OpenAI-shaped assistant message
    usage: Usage
    calls: list[CallRecord] = field(default_factory=list)
    json_schema: dict | None = None  # the constrained strategy's schema for this request


@dataclass
class LoopResult:
    answer: str
    messages: list[Message]  # the whole conversation, OpenAI-shaped (the CLI's "trace")
    rounds: list[Round]
    stopped: str  # "answer" or "max_rounds"
    strategy: str

    def to_dict(self) -> dict:
        return {"answer": self.answer, "trace": self.messages}


def pick_strategy(provider: Provider, strategy: Strategy = "auto") -> str:
    if strategy not in ("auto", "native", "constrained"):
        raise InputError(f"Unknown tool strategy {strategy!r}; use auto, native or constrained.")
    if strategy == "auto":
        return "constrained" if provider.name == "local" else "native"
    return strategy


def run_tools(
    provider: Provider,
    messages: list[Message],
    registry: ToolRegistry,
    *,
    model: str | None = None,
    options: Options | None = None,
    max_rounds: int = 5,
    strategy: Strategy = "auto",
    on_round: Callable[[Round], None] | None = None,
) -> LoopResult:
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
            rec = (
                registry.execute(call)
                if i < max_rounds
                else CallRecord(
                    call.id,
                    call.name,
                    call.arguments,
                    "not_run",
                    f"Not run: the lab stopped after {max_rounds} rounds (the round limit).",
                )
            )
            rnd.calls.append(rec)
            convo.append({"role": "tool", "tool_call_id": call.id, "content": rec.content})
        if on_round:
            on_round(rnd)
    return LoopResult("", convo, rounds, "max_rounds", chosen)
