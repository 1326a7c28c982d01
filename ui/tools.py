"""Streamlit helpers for the Tools lab: a per-session FlightAI database, the loop drawn round by round,
tool schemas next to their source, the price editor, and the frontier model to compare with.

Each browser session gets its own SQLite file (30 students editing one price table would fight over it):
``<data_dir>/sessions/<session id>/flightai.db``, created and seeded on first use, swept with the session's folder.
"""

from __future__ import annotations

import datetime

import pandas as pd
import streamlit as st

from lab.core.errors import LabError
from lab.core.keys import key_present
from lab.llm import Options
from lab.tools import flightai
from lab.tools.flightai import FlightDB
from lab.tools.loop import LoopResult
from lab.tools.registry import ToolRegistry
from ui.session import pasted_key, session_dir
from ui.widgets import DEFAULT_MODELS, ProviderChoice, show_error

# Measured with `python -m lab tools reliability --tries 20` (greedy decoding, constrained strategy).
LOCAL_FIGURES = (
    "19 of 20 replies were a well-formed call with schema-valid arguments, but only 6 were the right "
    "call (get_ticket_price with the asked destination), and 6 answers quoted the right price"
)
LOCAL_HONESTY = (
    "**How reliable is a 135M model at tool calls?** SmolLM2-135M was never trained for function calling and "
    "its chat template ignores `tools`, so asked natively it never emits a `tool_call` (0 of 20) and invents prices instead ('about €1.20'). Here the lab makes "
    'llama.cpp decode under a JSON schema (`{"tool", "arguments"}` or `{"answer"}`): every reply parses, '
    "but picking the right tool and arguments is another matter. On 20 price questions: "
    + LOCAL_FIGURES
    + ". It often "
    "puts the destination in both fields, repeats a call that failed instead of fixing it, and cannot plan "
    "several steps. Frontier models are trained for tool calls: tick *Also ask a frontier model* to compare."
)
STATUS_ICON = {
    "ok": "✅",
    "unknown_tool": "❓",
    "invalid_arguments": "⚠️",
    "refused": "🚫",
    "tool_error": "💥",
    "not_run": "⛔",
}


def session_db() -> FlightDB:
    return FlightDB(session_dir() / "flightai.db")


def compare_db(db: FlightDB) -> FlightDB:
    """A scratch copy of the price table for the frontier model, so its bookings do not land in yours."""
    other = FlightDB(db.path.with_suffix(".compare.db"))
    other.set_prices(db.prices())
    return other


def frontier_choice() -> ProviderChoice | None:
    """The first frontier provider with a key (deployment or pasted), to replay the question on."""
    for name in ("openai", "anthropic"):
        if key_present(name) or pasted_key(name):
            return ProviderChoice(name, DEFAULT_MODELS[name], None)
    return None


def ask(choice: ProviderChoice, question: str, **kw) -> LoopResult | None:
    """FlightAI on one question, greedy; a problem (no key, empty question...) is shown, not raised."""
    if not question.strip():
        st.warning(
            "Type a question first, e.g. 'Book Ada Lovelace from London to Tokyo on "
            f"{flightai.today() + datetime.timedelta(days=30):%Y-%m-%d}'."
        )
        return None
    try:
        with st.spinner("FlightAI is working: model requests and tool runs..."):
            return flightai.ask(
                choice.build(),
                question,
                model=choice.model_arg,
                options=Options(temperature=0.0),
                **{**kw, "history": kw.get("history") or None},
            )
    except LabError as e:
        show_error(e)
        return None


def compare(question: str, db: FlightDB, **kw) -> None:
    """The same question to a frontier model (on a scratch copy of the prices), or how to enable that."""
    frontier = frontier_choice()
    if frontier is None:
        st.info(
            "Set OPENAI_API_KEY or ANTHROPIC_API_KEY (or paste a key in the sidebar) to see the same "
            "question answered by a frontier model."
        )
        return
    st.subheader(f"The same question with {frontier.provider} / {frontier.model}")
    other = ask(frontier, question, db=compare_db(db), **kw)
    if other:
        st.chat_message("assistant").markdown(other.answer or "_(no answer)_")
        show_rounds(other)


def show_history(messages: list[dict]) -> None:
    """Earlier turns as chat bubbles: the user's questions and FlightAI's final answers."""
    for m in messages:
        if m["role"] == "user" or (m["role"] == "assistant" and m.get("content") and not m.get("tool_calls")):
            st.chat_message(m["role"]).markdown(m["content"])


def show_rounds(result: LoopResult, where=st) -> None:
    """The loop, one expander per request: what was sent, what came back, what the lab ran."""
    where.caption(f"Strategy: **{result.strategy}** · {len(result.rounds)} round(s) · stopped by: **{result.stopped}**")
    for r in result.rounds:
        asked = ", ".join(c.name for c in r.calls)
        with where.expander(
            f"Round {r.index}: " + (f"model asked for {asked}" if asked else "model answered"), expanded=True
        ):
            st.markdown(f"**1. Sent** {len(r.sent)} messages" + (" under a JSON schema" if r.json_schema else ""))
            st.json(r.sent, expanded=False)
            if r.json_schema:
                st.json(r.json_schema, expanded=False)
                st.markdown("**2. Model wrote** (raw)")
                st.code(r.reply_text or "(nothing)", language="json")
            st.markdown("**2. Reply as an assistant message**" if not r.json_schema else "**… read as**")
            st.json(r.assistant)
            for c in r.calls:
                st.markdown(f"**3. Lab ran** `{c.name}` {STATUS_ICON.get(c.status, '')} `{c.status}` ({c.ms:.1f} ms)")
                st.json({"role": "tool", "tool_call_id": c.id, "content": c.content})
            st.caption(r.usage.line())
    if result.stopped == "max_rounds":
        where.warning(
            f"Stopped at the round limit ({len(result.rounds)}): the model kept asking for tools. "
            "The calls of the last round were not run. Raise *Max rounds* or simplify the question."
        )
    with where.expander(f"Full trace: {len(result.messages)} OpenAI-shaped messages"):
        st.json(result.messages)


def show_schemas(registry: ToolRegistry) -> None:
    for tool in registry:
        st.markdown(f"#### `{tool.name}`")
        left, right = st.columns(2)
        left.code(tool.source, language="python")
        right.json(tool.schema)


def price_editor(db: FlightDB) -> None:
    """Edit the price table in place; saving writes it to this session's SQLite file."""
    df = pd.DataFrame({"destination": list(db.prices()), "price_usd": list(db.prices().values())})
    edited = st.data_editor(df, num_rows="dynamic", key="tools.prices", hide_index=True)
    if st.button("Save prices", key="tools.save_prices"):
        try:
            db.set_prices(dict(zip(edited["destination"].fillna(""), edited["price_usd"].fillna(-1))))
            st.success("Saved. FlightAI's get_ticket_price reads the new table on the next question.")
        except LabError as e:
            show_error(e)
    st.markdown("**Bookings** (written by `book_flight`)")
    st.dataframe(pd.DataFrame(db.bookings()), hide_index=True)
