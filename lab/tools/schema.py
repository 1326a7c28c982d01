"""A typed Python function becomes the JSON schema a model sees, and the same types check what it sends back.

The signature is the single source of truth: pydantic builds a model of the arguments from it (``Annotated``
descriptions become the schema's descriptions), the schema goes to the provider, and a call the model makes is
validated by the same model before anything runs. Argument rules (``not_blank``, dates in a window) are types too.

    >>> from typing import Annotated
    >>> from pydantic import Field
    >>> def get_ticket_price(destination: Annotated[str, Field(description="City to fly to")]) -> str:
    ...     '''Price of a return ticket to a city.'''
    ...     return "$899"
    >>> function_schema(get_ticket_price)["function"]["name"]
    'get_ticket_price'
    >>> arguments_model(get_ticket_price).model_validate({"destination": "Paris"}).destination
    'Paris'
    >>> not_blank("  Ada Lovelace ")
    'Ada Lovelace'
"""

from __future__ import annotations

import inspect
import typing
import unicodedata
from typing import Any, Callable

from pydantic import BaseModel, ConfigDict, create_model
from pydantic.json_schema import GenerateJsonSchema

from lab.core.errors import InputError


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
            raise InputError(
                f"{fn.__name__}: parameter {name!r} has no type annotation; a tool needs one per parameter."
            )
        fields[name] = (hints[name], ... if p.default is p.empty else p.default)
    return create_model(f"{fn.__name__}_arguments", __config__=ConfigDict(extra="forbid"), **fields)


def function_schema(fn: Callable, name: str | None = None) -> dict:
    """The OpenAI ``tools`` entry for ``fn`` (the other providers' shapes are translated from it in lab.llm)."""
    doc = inspect.getdoc(fn)
    if not doc:
        raise InputError(f"{fn.__name__} has no docstring: the model reads it to decide when to call the tool.")
    params = arguments_model(fn).model_json_schema(schema_generator=_NoTitles)
    params.setdefault("required", [])
    return {"type": "function", "function": {"name": name or fn.__name__, "description": doc, "parameters": params}}


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
