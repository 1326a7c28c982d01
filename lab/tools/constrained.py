"""Tool calls from a model that has no tool support: decode under a JSON schema instead.

SmolLM2's chat template ignores ``tools``. So the lab describes the tools in the system prompt and asks for
``{"tool": NAME, "arguments": {...}}`` or ``{"answer": TEXT}``; llama.cpp turns that schema into a grammar, so
every reply parses, and the registry's pydantic models then judge whether the arguments make sense.

    >>> parse_constrained('{"answer": "It costs $899."}', "call_0")
    ('It costs $899.', [])
    >>> text, calls = parse_constrained('{"tool": "get_ticket_price", "arguments": {"destination": "Paris"}}', "call_0")
    >>> calls[0].name, calls[0].arguments
    ('get_ticket_price', '{"destination": "Paris"}')
"""

from __future__ import annotations

import json

from lab.llm.base import Message, ToolCall
from lab.tools.registry import ToolRegistry

ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string"}},
    "required": ["answer"],
    "additionalProperties": False,
}
# Appended to the tool results when the lab asks for an answer only (see run_tools): SmolLM2 copied its own
# call back 3 times out of 3 without it, and wrote an answer from the result with it.
ANSWER_NUDGE = "Now answer the user."


def constrained_schema(registry: ToolRegistry, answer_only: bool = False) -> dict:
    """One JSON Schema for "call one of these tools, or answer": llama.cpp decodes under it as a grammar.

    ``answer_only`` narrows it to ``{"answer": TEXT}``.
    """
    if answer_only:
        return ANSWER_SCHEMA
    options = [
        {
            "type": "object",
            "properties": {"tool": {"const": t.name}, "arguments": t.schema["function"]["parameters"]},
            "required": ["tool", "arguments"],
            "additionalProperties": False,
        }
        for t in registry
    ]
    return {"anyOf": [*options, ANSWER_SCHEMA]}


def constrained_messages(messages: list[Message], registry: ToolRegistry, answer_only: bool = False) -> list[Message]:
    """The OpenAI-shaped conversation re-told in plain system/user/assistant turns that a small model knows."""
    lines = [
        f"- {t.name}({', '.join(t.schema['function']['parameters']['properties'])}): "
        f"{t.schema['function']['description']}"
        for t in registry
    ]
    howto = (
        "You can use these tools:\n" + "\n".join(lines) + "\nReply with JSON only: "
        '{"tool": NAME, "arguments": {...}} to use a tool, or {"answer": TEXT} to answer the user.'
    )
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
                out.append(
                    {"role": "assistant", "content": json.dumps({"tool": tc["function"]["name"], "arguments": args})}
                )
        elif m["role"] == "assistant":
            out.append({"role": "assistant", "content": json.dumps({"answer": m.get("content") or ""})})
        elif m["role"] == "tool":
            out.append(
                {"role": "user", "content": f"Result of {names.get(m['tool_call_id'], 'the tool')}: {m['content']}"}
            )
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
