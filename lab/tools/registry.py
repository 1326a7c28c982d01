"""The tool registry: the functions a model may call, how a call is run, and the record of every call.

``ToolRegistry([fn, ...])`` turns each typed function into a ``Tool`` (name, schema, arguments model) and
``execute(tool_call)`` runs one request from a model: an unknown tool, JSON that does not parse,
arguments that fail the schema, or a function that raises all become a ``CallRecord`` whose ``content`` is the
message the model reads next - never an exception in the loop.

    >>> def add(a: int, b: int) -> str:
    ...     '''Add two integers.'''
    ...     return str(a + b)
    >>> from lab.llm.base import ToolCall
    >>> reg = ToolRegistry([add])
    >>> reg.execute(ToolCall("c1", "add", '{"a": 2, "b": 3}')).content
    '5'
    >>> reg.execute(ToolCall("c2", "add", '{"a": "two"}')).status
    'invalid_arguments'
"""

from __future__ import annotations

import json
import time
import typing
from dataclasses import dataclass
from typing import Callable

from pydantic import BaseModel, ValidationError

from lab.llm.base import ToolCall
from lab.tools.schema import ToolArgumentError, arguments_model, function_schema


@dataclass
class Tool:
    name: str
    fn: Callable
    args_model: type[BaseModel]
    schema: dict

    @property
    def source(self) -> str:
        from lab.core.source import source_of

        return source_of(self.fn)


@dataclass
class CallRecord:
    """One tool call the model asked for, and what the lab did with it."""

    id: str
    name: str
    arguments: str  # the raw JSON string the model produced
    status: str  # ok | unknown_tool | invalid_arguments | refused | tool_error | not_run
    content: str  # what goes back to the model in the tool message
    ms: float = 0.0  # time spent running the function, milliseconds


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
            rec.content = (
                f"Error: there is no tool named {call.name!r}. Available tools: {', '.join(self.names) or 'none'}."
            )
            return rec
        try:
            args = tool.args_model.model_validate_json(call.arguments or "{}")
        except ValidationError as e:
            problems = "; ".join(f"{'.'.join(map(str, err['loc'])) or 'arguments'}: {err['msg']}" for err in e.errors())
            rec.status = "invalid_arguments"
            rec.content = (
                f"Error: invalid arguments for {call.name}: {problems}. Expected JSON matching "
                f"{json.dumps(tool.schema['function']['parameters'])}."
            )
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
