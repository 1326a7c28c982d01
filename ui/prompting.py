"""Streamlit helpers for the Prompting page: a live stream writer, editors for shots and rules, renderers for
conversations, structured attempts, comparisons and next-token tables, and the bodies of the later tabs
(structured output, compare models, brochure, next-token probabilities). No lab logic here."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lab.core.errors import LabError
from lab.core.keys import redact
from lab.core.settings import get_settings
from lab.core.source import source_of
from lab.llm import DEFAULT_SYSTEM, PROVIDERS, Options, run
from lab.prompting import compare, next_token, structured
from lab.prompting.brochure import make_brochure, summarize
from lab.prompting.compare import Outcome, compare_table
from lab.prompting.memory import Conversation, check_fits
from lab.prompting.messages import PRESETS, Rule, Shot, build_messages
from lab.prompting.structured import StructuredResult
from ui.widgets import DEFAULT_MODELS, ProviderChoice, Streamer, explained, model_widgets, show_usage


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


# ---------------------------------------------------------------------------------------------- tabs
def structured_tab(choice: ProviderChoice, opts: dict) -> None:
    """Structured output: the course's Deal schema or the learner's own fields, validated with one repair."""
    kind = st.radio("Schema", ["Deal / DealSelection (course)", "Your own fields"], horizontal=True, key="so.kind")
    st.caption(
        "The local model decodes under the schema (llama.cpp grammar): the *shape* is guaranteed, the "
        "*values* are not - check them."
    )
    with explained():
        if kind.startswith("Deal"):
            schema, sys_default, user_default = (
                structured.Schema.from_model(structured.DealSelection),
                structured.DEAL_SYSTEM_PROMPT,
                structured.DEAL_EXAMPLE,
            )
            st.code(
                source_of(structured.Deal) + "\n\n" + source_of(structured.DealSelection),
                language="python",
            )
        else:
            fields = st.text_area("Fields (`name: type  # description`)", structured.EXAMPLE_FIELDS, key="so.fields")
            schema = structured.Schema.from_fields(fields)
            sys_default, user_default = DEFAULT_SYSTEM, "Tell me about the capital of France."
        system = st.text_area("System prompt", sys_default, key=f"so.system.{kind}")
        user = st.text_area("User prompt", user_default, key=f"so.user.{kind}")
        with st.expander("JSON Schema sent"):
            st.json(schema.json_schema)
        describe = st.checkbox(
            "Also paste the schema into the system prompt",
            key="so.describe",
            help="For servers without structured output. SmolLM2 then copies the schema's text.",
        )
        if st.button("Ask for structured output", type="primary", key="so.send"):
            result = structured.structured(
                choice.build(),
                build_messages(system, user),
                schema,
                model=choice.model_arg,
                options=Options(**opts),
                describe=describe,
            )
            show_structured(result)
            show_usage(result.usage[-1])


def compare_tab(opts: dict) -> None:
    """The same prompt to 2-3 models, streamed side by side, then one table."""
    st.caption("The same prompt to 2-3 models, one after the other. Keys and base URLs come from the sidebar.")
    user = st.text_area("Prompt", "Explain what a token is, in two sentences.", key="cmp.user")
    targets = compare_picker()
    if st.button("Compare", type="primary", key="cmp.send") and targets:
        with explained():
            outs = [Streamer(col) for col, _ in targets]
            outcomes = compare.compare(
                [compare.Target(f"{c.provider}/{c.model or 'SmolLM2'}", c.build, c.model_arg) for _, c in targets],
                build_messages(PRESETS["Brief and factual"], user),
                Options(**opts),
                on_text=lambda i, t: outs[i](t),
            )
            for (col, _), out, o in zip(targets, outs, outcomes):
                out.done(o.text)
                if o.error:
                    col.error(o.error)
            show_compare(outcomes)


def brochure_tab(choice: ProviderChoice, opts: dict) -> None:
    """A company brochure from its website (links picked by the model), or a one-page summary."""
    allow = get_settings().allow_private_urls
    st.caption(
        f"Private, loopback and link-local addresses are {'ALLOWED' if allow else 'refused'} "
        "(LAB_ALLOW_PRIVATE_URLS); cloud metadata addresses always are."
    )
    url = st.text_input("Company website", "https://huggingface.co", key="bro.url")
    company = st.text_input("Company name (default: the page title)", "", key="bro.company")
    c1, c2 = st.columns(2)
    if c1.button("Make a brochure", type="primary", key="bro.send"):
        with explained():
            out, steps = Streamer(), st.status("Working", expanded=True)
            material, reply = make_brochure(
                url,
                choice.build(),
                company=company or None,
                model=choice.model_arg,
                options=Options(**opts | {"max_tokens": max(opts["max_tokens"], 400)}),
                on_text=out,
                on_step=steps.write,
            )
            steps.update(label=f"Read {1 + len(material.pages)} pages", state="complete")
            out.done(reply.text)
            st.json({"links picked": material.links, "skipped": material.skipped}, expanded=False)
            show_usage(reply.usage)
    if c2.button("Just summarize the page", key="bro.summary"):
        with explained():
            out = Streamer()
            page, reply = summarize(url, choice.build(), model=choice.model_arg, options=Options(**opts), on_text=out)
            out.done(reply.text)
            show_usage(reply.usage)


def next_token_tab(choice: ProviderChoice, opts: dict) -> None:
    """The top-k candidates the model scored at each generated token."""
    st.caption("At each step the model scores every token in its vocabulary; here are the top candidates.")
    prompt = st.text_input("Prompt", "The capital of France is", key="nt.prompt")
    k = st.slider("Candidates per step (k)", 2, 10, 5, key="nt.k")
    steps = st.slider("Tokens to generate", 1, 20, 6, key="nt.steps")
    if st.button("Show next tokens", type="primary", key="nt.send"):
        with explained():
            reply, rows = next_token.next_tokens(
                choice.build(),
                build_messages(DEFAULT_SYSTEM, prompt),
                k=k,
                steps=steps,
                options=Options(**opts),
            )
            st.markdown(f"**Generated:** {reply.text}")
            show_next_tokens(rows, k)
