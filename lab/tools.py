"""Function calling: a typed Python function becomes a JSON schema, and a loop runs what the model asks for.

A model cannot run code. It can only *ask*: "call get_ticket_price with {"destination": "Paris"}". The lab
validates that request, runs the function, appends the result as a ``tool`` message and asks again, until
the model answers in words or a round limit stops it. Worked example with a scripted model:

    >>> from typing import Annotated
    >>> from pydantic import Field
    >>> def get_ticket_price(destination: Annotated[str, Field(description="City to fly to")]) -> str:
    ...     '''Price of a return ticket to a city.'''
    ...     return {"paris": "$899"}.get(destination.lower(), "unknown")
    >>> function_schema(get_ticket_price)["function"]["parameters"]
    {'additionalProperties': False, 'properties': {'destination': {'description': 'City to fly to', 'type': 'string'}}, 'required': ['destination'], 'type': 'object'}
    >>> from lab.llm.fake import FakeProvider
    >>> model = FakeProvider([{"tool_calls": [("get_ticket_price", {"destination": "Paris"})]}, "It costs $899."])
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

import inspect
import json
import time
import typing
import unicodedata
from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.json_schema import GenerateJsonSchema

from lab.llm.base import InputError, Message, Options, Provider, ToolCall, Usage, run

MAX_ROUNDS = 10  # the page's slider and the CLI accept 1..MAX_ROUNDS model requests per question
Strategy = Literal["auto", "native", "constrained"]


# ---------------------------------------------------------------------------------------------- schema
class _NoTitles(GenerateJsonSchema):
    """pydantic titles every model and field ("Destination"); models only need names and descriptions."""

    def field_title_should_be_set(self, schema) -> bool:
        return False

    def model_schema(self, schema):
        out = super().model_schema(schema)
        out.pop("title", None)
        return out


def arguments_model(fn: Callable) -> type[BaseModel]:
    """A pydantic model of ``fn``'s parameters: types from annotations, descriptions from ``Annotated[..., Field]``.

    ``extra="forbid"`` gives ``additionalProperties: false``: an argument the function lacks is an error,
    not silently dropped. Parameters without a default are ``required``.
    """
    hints = typing.get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise InputError(f"{fn.__name__}(*{name}) cannot be a tool: a JSON schema needs named parameters.")
        if name not in hints:
            raise InputError(f"{fn.__name__}: parameter {name!r} has no type annotation; a tool needs one per parameter.")
        fields[name] = (hints[name], ... if p.default is p.empty else p.default)
    return create_model(f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def function_schema(fn: Callable, name: str | None = None) -> dict:
    """The OpenAI ``tools`` entry for ``fn`` (the other providers' shapes are translated from it in lab.llm)."""
    doc = inspect.getdoc(fn)
    if not doc:
        raise InputError(f"{fn.__name__} has no docstring: the model reads it to decide when to call the tool.")
    params = arguments_model(fn).model_json_schema(schema_generator=_NoTitles)
    params.setdefault("required", [])
    return {"type": "function", "function": {"name": name or fn.__name__, "description": doc,
                                             "parameters": params}}


# ---------------------------------------------------------------------------------------------- argument rules
def not_blank(value: str) -> str:
    """An ``AfterValidator`` for names: trimmed, and refused when only spaces are left or it has no letter at all.

    pydantic's ``min_length`` counts spaces, so ``"  "`` passes it; a tool would then write a blank name.

        >>> not_blank("  Ada Lovelace ")
        'Ada Lovelace'
        >>> not_blank("   ")
        Traceback (most recent call last):
        ...
        ValueError: must not be blank
    """
    value = value.strip()
    if not value:
        raise ValueError("must not be blank")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise ValueError("must be one line of text (no control characters)")
    if not any(c.isalpha() for c in value):
        raise ValueError("must contain at least one letter")
    return value


class ToolArgumentError(ValueError):
    """Raised by a tool for an argument its schema cannot express (a city missing from today's price table).

    The registry reports it as ``refused`` (well-formed arguments, refused by the tool's own data) naming the
    argument, so the model can fix it; not as ``tool_error`` (the tool itself failed).
    """

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(message)
        self.argument = argument


# ---------------------------------------------------------------------------------------------- registry
@dataclass
class Tool:
    name: str
    fn: Callable
    args_model: type[BaseModel]
    schema: dict

    @property
    def source(self) -> str:
        return inspect.getsource(self.fn)


@dataclass
class CallRecord:
    """One tool call the model asked for, and what the lab did with it."""

    id: str
    name: str
    arguments: str                     # the raw JSON string the model produced
    status: str                        # ok | unknown_tool | invalid_arguments | refused | tool_error | not_run
    content: str                       # what goes back to the model in the tool message
    ms: float = 0.0                    # time spent running the function, milliseconds


class ToolRegistry:
    """The only functions the model may call, by name.

    Why not ``globals()[name](**args)`` as quick demos do: the name comes from model output, which is
    untrusted input (a prompt-injected web page or a confused model can ask for anything). A globals lookup
    lets it reach every function in the module, imports included (``open``, ``os.system``...), with arguments
    nobody validated. A registry is an allow-list: what the model was shown is exactly what it can run, and
    each entry carries the pydantic model its arguments must pass.
    """

    def __init__(self, fns: typing.Iterable[Callable] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for fn in fns:
            self.register(fn)

    def register(self, fn: Callable, name: str | None = None) -> Tool:
        schema = function_schema(fn, name)
        tool = Tool(schema["function"]["name"], fn, arguments_model(fn), schema)
        self._tools[tool.name] = tool
        return tool

    @property
    def names(self) -> list[str]:
        return list(self._tools)

    def __getitem__(self, name: str) -> Tool:
        return self._tools[name]

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> typing.Iterator[Tool]:
        return iter(self._tools.values())

    def schemas(self) -> list[dict]:
        return [t.schema for t in self._tools.values()]

    def execute(self, call: ToolCall) -> CallRecord:
        """Validate and run one call. Every failure becomes text for the model (its ``tool`` message), never an
        exception; ``status`` says which: ``unknown_tool``; ``invalid_arguments`` (bad JSON, or the pydantic model
        of the signature refused them: a wrong type, a bound, a blank name, a date out of range; nothing ran);
        ``refused`` (well-formed, but the tool's data rejects them: ``ToolArgumentError``); ``tool_error``."""
        rec = CallRecord(call.id, call.name, call.arguments, "ok", "")
        tool = self._tools.get(call.name)
        if tool is None:
            rec.status = "unknown_tool"
            rec.content = (f"Error: there is no tool named {call.name!r}. "
                           f"Available tools: {', '.join(self.names) or 'none'}.")
            return rec
        try:
            args = tool.args_model.model_validate_json(call.arguments or "{}")
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())
            rec.status = "invalid_arguments"
            rec.content = (f"Error: invalid arguments for {call.name}: {problems}. Expected JSON matching "
                           f"{json.dumps(tool.schema['function']['parameters'])}.")
            return rec
        t0 = time.perf_counter()
        try:
            result = tool.fn(**{k: getattr(args, k) for k in type(args).model_fields})  # keep dates, not dumps
        except ToolArgumentError as e:  # a rule only the tool can check (its data): still the caller's mistake
            rec.status = "refused"
            rec.content = f"Error: {call.name} refused its arguments: {e.argument}: {e}"
        except Exception as e:  # a tool's failure is information for the model, not a crash of the lab
            rec.status = "tool_error"
            rec.content = f"Error: {call.name} failed: {type(e).__name__}: {e}"
        else:
            rec.content = result if isinstance(result, str) else json.dumps(result, default=str)
        rec.ms = (time.perf_counter() - t0) * 1000
        return rec


# ---------------------------------------------------------------------------------------------- constrained
ANSWER_SCHEMA = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"],
                 "additionalProperties": False}
# Appended to the tool results when the lab asks for an answer only (see run_tools): SmolLM2 copied its own
# call back 3 times out of 3 without it, and wrote an answer from the result with it.
ANSWER_NUDGE = "Now answer the user."


def constrained_schema(registry: ToolRegistry, answer_only: bool = False) -> dict:
    """One JSON Schema for "call one of these tools, or answer": llama.cpp decodes under it as a grammar.

    ``answer_only`` narrows it to ``{"answer": TEXT}``.
    """
    if answer_only:
        return ANSWER_SCHEMA
    options = [{"type": "object", "properties": {"tool": {"const": t.name}, "arguments": t.schema["function"]["parameters"]},
                "required": ["tool", "arguments"], "additionalProperties": False} for t in registry]
    return {"anyOf": [*options, ANSWER_SCHEMA]}


def constrained_messages(messages: list[Message], registry: ToolRegistry, answer_only: bool = False) -> list[Message]:
    """The OpenAI-shaped conversation re-told in plain system/user/assistant turns that a small model knows."""
    lines = [f"- {t.name}({', '.join(t.schema['function']['parameters']['properties'])}): "
             f"{t.schema['function']['description']}" for t in registry]
    howto = ("You can use these tools:\n" + "\n".join(lines) + "\nReply with JSON only: "
             '{"tool": NAME, "arguments": {...}} to use a tool, or {"answer": TEXT} to answer the user.')
    out: list[Message] = []
    names: dict[str, str] = {}
    for m in messages:
        if m["role"] == "system":
            out.append({"role": "system", "content": f"{m['content']}\n\n{howto}"})
        elif m["role"] == "assistant" and m.get("tool_calls"):
            for tc in m["tool_calls"]:
                names[tc["id"]] = tc["function"]["name"]
                try:
                    args = json.loads(tc["function"]["arguments"] or "{}")
                except json.JSONDecodeError:
                    args = tc["function"]["arguments"]
                out.append({"role": "assistant", "content": json.dumps({"tool": tc["function"]["name"], "arguments": args})})
        elif m["role"] == "assistant":
            out.append({"role": "assistant", "content": json.dumps({"answer": m.get("content") or ""})})
        elif m["role"] == "tool":
            out.append({"role": "user", "content": f"Result of {names.get(m['tool_call_id'], 'the tool')}: {m['content']}"})
        else:
            out.append({"role": m["role"], "content": m.get("content") or ""})
    if not any(m["role"] == "system" for m in out):
        out.insert(0, {"role": "system", "content": howto})
    if answer_only and out[-1]["role"] == "user":
        out[-1] = {"role": "user", "content": f"{out[-1]['content']}\n{ANSWER_NUDGE}"}
    return out


def parse_constrained(text: str, call_id: str) -> tuple[str, list[ToolCall]]:
    """``{"tool", "arguments"}`` -> one ToolCall; ``{"answer"}`` -> text. Anything else is kept as text, as is."""
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:  # cut short by max_tokens: the grammar never finished the object
        return text, []
    if isinstance(obj, dict) and "tool" in obj:
        return "", [ToolCall(call_id, str(obj["tool"]), json.dumps(obj.get("arguments", {})))]
    if isinstance(obj, dict) and "answer" in obj:
        return str(obj["answer"]), []
    return text, []


# ---------------------------------------------------------------------------------------------- the loop
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
