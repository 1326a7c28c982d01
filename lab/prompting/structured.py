"""Structured output: ask for JSON under a schema, validate it, repair once, never invent.

A ``Schema`` comes from a pydantic model (the course's ``Deal`` / ``DealSelection``) or from fields typed in the
page; ``structured()`` sends it the provider's way (OpenAI ``response_format``, llama.cpp grammar decoding
locally), parses the reply, validates it, and on failure asks once more with the validation errors.

    >>> parse_json('Sure! ```json\\n{"price": 9.5}\\n```')
    {'price': 9.5}
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field, ValidationError, create_model

from lab.core.errors import InputError
from lab.llm.base import Message, Options, Provider, Usage, run


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
    "detailed, high quality description and the most clear price. Respond strictly in JSON with no explanation."
)
DEAL_EXAMPLE = (
    "Deals:\n"
    "1. Sony WH-1000XM5 wireless noise cancelling headphones, 30 hour battery. Now $279.99. https://shop.example/sony-xm5\n"
    "2. Samsung 65 inch QLED 4K smart TV, 120 Hz. $899. https://shop.example/samsung-q65\n"
    "3. Mystery box of gadgets, price varies. https://shop.example/mystery"
)

FIELD_TYPES: dict[str, Any] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list[str]": list[str],
    "list[int]": list[int],
    "list[float]": list[float],
}
EXAMPLE_FIELDS = "city: str  # the city's name\ncountry: str\npopulation_millions: float"


class Schema:
    """What a structured reply must be: a JSON Schema to send (constrains decoding locally) and a validator."""

    def __init__(self, name: str, json_schema: dict, validate: Callable[[Any], Any]) -> None:
        self.name, self.json_schema, self._validate = name, json_schema, validate

    @classmethod
    def from_model(cls, model: type[BaseModel], json_schema: dict | None = None) -> "Schema":
        return cls(
            model.__name__,
            json_schema or model.model_json_schema(),
            lambda data: model.model_validate(data).model_dump(),
        )

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
                raise ValueError(
                    "; ".join(f"{'.'.join(map(str, e.path)) or '(root)'}: {e.message}" for e in errors[:5])
                )
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
            raise InputError(f'{path} must hold one JSON Schema object, like {{"type": "object", ...}}.')
        return cls.from_json_schema(schema, name=path.stem)

    def validate(self, text: str) -> Any:
        """Parse and validate; raise ``ValueError`` with a message a person (and a model) can act on."""
        data = parse_json(text)
        try:
            return self._validate(data)
        except ValidationError as e:
            raise ValueError(
                "; ".join(f"{'.'.join(map(str, err['loc'])) or '(root)'}: {err['msg']}" for err in e.errors()[:5])
            ) from None


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
    value: Any = None  # the validated data (a dict), or None
    attempts: list[str] = field(default_factory=list)  # each raw reply
    errors: list[str] = field(default_factory=list)  # each attempt's validation error ("" when it passed)
    messages: list[Message] = field(default_factory=list)  # what the last attempt sent
    usage: list[Usage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.value is not None

    @property
    def repaired(self) -> bool:
        return self.ok and len(self.attempts) > 1


def structured(
    provider: Provider,
    messages: list[Message],
    schema: Schema,
    *,
    model: str | None = None,
    options: Options | None = None,
    repair: bool = True,
    describe: bool = False,
    on_text: Callable[[str], None] | None = None,
) -> StructuredResult:
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
    for _attempt in range(2 if repair else 1):
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
            {
                "role": "user",
                "content": f"That reply is invalid: {result.errors[-1]}. Reply again with only the corrected JSON.",
            },
        ]
    return result
