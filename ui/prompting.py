"""Streamlit helpers for the Prompting page: a live stream writer, editors for shots and rules, and renderers
for conversations, structured attempts, comparisons, brochures and next-token tables. No lab logic here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lab.core.errors import LabError
from lab.core.keys import redact
from lab.llm import PROVIDERS, Options, run
from lab.prompting.compare import Outcome, compare_table
from lab.prompting.memory import Conversation, check_fits
from lab.prompting.messages import Rule, Shot
from lab.prompting.structured import StructuredResult
from ui.widgets import DEFAULT_MODELS, ProviderChoice, explained, model_widgets, show_usage  # noqa: F401  (explained: re-exported)


def sampling_options(**overrides) -> dict:
    """Temperature / top_p / max tokens / seed in the sidebar, shared by every section of the page."""
    box = st.sidebar.expander("Sampling", expanded=True)
    return model_widgets(
        Options,
        ["temperature", "top_p", "max_tokens", "seed"],
        where=box,
        key="prompting.",
        max_tokens_max=4096,
        **overrides,
    )


class Streamer:
    """``on_text`` for ``lab.llm.run``: each piece is appended and the placeholder redrawn (a cursor while live)."""

    def __init__(self, where=st) -> None:
        self.box = where.empty()
        self.text = ""

    def __call__(self, piece: str) -> None:
        self.text += piece
        self.box.markdown(self.text + " ▌")

    def done(self, final: str | None = None) -> None:
        self.box.markdown(final if final is not None else self.text)


def send(choice: ProviderChoice, messages: list[dict], options: Options, window: int | None, where=st):
    """Check the prompt fits, stream one reply into ``where``, then show its usage. None when it failed; a stream
    that breaks half-way keeps what arrived, with the error under it."""
    out = Streamer(where)
    try:
        check_fits(messages, window, options.max_tokens)
        reply = run(choice.build(), messages, model=choice.model_arg, options=options, on_text=out)
    except LabError as e:
        out.done()
        where.error(redact(str(e)), icon="⚠️")
        return None
    out.done(reply.text)
    show_usage(reply.usage, where)
    return reply


def shots_editor(default: list[Shot], key: str) -> list[Shot]:
    df = st.data_editor(
        pd.DataFrame([{"user": s.user, "assistant": s.assistant} for s in default]),
        num_rows="dynamic",
        key=key,
        width="stretch",
    )
    return [
        Shot(str(r.user), str(r.assistant)) for r in df.itertuples() if str(r.user).strip() and str(r.user) != "None"
    ]


def rules_editor(default: list[Rule], key: str) -> list[Rule]:
    df = st.data_editor(
        pd.DataFrame([{"keyword": r.keyword, "message": r.message} for r in default]),
        num_rows="dynamic",
        key=key,
        width="stretch",
    )
    return [
        Rule(str(r.keyword), str(r.message))
        for r in df.itertuples()
        if str(r.keyword).strip() and str(r.keyword) != "None"
    ]


def show_conversation(conv: Conversation) -> None:
    for m in conv.turns:
        st.chat_message(m["role"]).markdown(m["content"])


def token_meter(estimate: int, window: int | None, per_turn: list[int]) -> None:
    """The memory illusion in numbers: the whole list is re-sent, so the prompt grows every turn."""
    if window:
        st.progress(
            min(1.0, estimate / window),
            text=f"Next prompt ≈ {estimate:,} tokens of a {window:,}-token context window "
            f"({estimate / window:.1%}; tiktoken estimate)",
        )
    else:
        st.caption(f"Next prompt ≈ {estimate:,} tokens (context window unknown for this model).")
    if per_turn:
        st.bar_chart(
            pd.DataFrame(
                {"prompt tokens (provider's count)": per_turn}, index=pd.Index(range(1, len(per_turn) + 1), name="turn")
            )
        )


def show_structured(result: StructuredResult) -> None:
    for i, (raw, err) in enumerate(zip(result.attempts, result.errors), 1):
        label = "first reply" if i == 1 else "repair attempt"
        with st.expander(f"{label}: {'valid' if not err else 'invalid'}", expanded=bool(err)):
            st.code(raw or "(empty reply)", language="json")
            if err:
                st.warning(f"Validation error: {err}")
    if result.ok:
        st.success("Parsed and validated" + (" after one repair." if result.repaired else "."))
        st.json(result.value)
    else:
        st.error(f"No valid reply, even after one repair attempt: {result.errors[-1]}")


def compare_picker(n: int = 3) -> list[tuple]:
    """Up to ``n`` columns, each a provider and model id; returns ``(column, ProviderChoice)`` for those picked.
    Base URLs (ollama, openai-compatible) are the sidebar's."""
    picked = []
    for i, col in enumerate(st.columns(n)):
        name = col.selectbox(
            f"Model {i + 1}",
            ["(none)", *[p for p in PROVIDERS if p != "fake"]],
            index=1 if i == 0 else 0,
            key=f"cmp.provider.{i}",
        )
        if name != "(none)":
            model = col.text_input("Model id", DEFAULT_MODELS[name], key=f"cmp.model.{i}") if name != "local" else None
            picked.append((col, ProviderChoice(name, model, st.session_state.get(f"base_url_{name}"))))
    return picked


def show_compare(outcomes: list[Outcome]) -> None:
    st.dataframe(
        pd.DataFrame(compare_table(outcomes)),
        hide_index=True,
        width="stretch",
        column_config={"cost_usd": st.column_config.NumberColumn("cost ($)", format="%.6f")},
    )


def show_next_tokens(rows: list[dict], k: int) -> None:
    """One row per generated token: the chosen token, its probability, and the runners-up."""
    table = []
    for r in rows:
        row = {"step": r["step"], "chosen": repr(r["chosen"]), "p(chosen)": r["p"]}
        for j, (tok, p) in enumerate(r["candidates"][:k], 1):
            row[f"#{j}"] = f"{tok!r} {p:.0%}"
        table.append(row)
    st.dataframe(
        pd.DataFrame(table),
        hide_index=True,
        width="stretch",
        column_config={"p(chosen)": st.column_config.ProgressColumn(min_value=0.0, max_value=1.0, format="%.2f")},
    )
