"""Streamlit helpers for the Evaluate lab: the model picker, the suite with progress, results and the LLM-Perf
chart, the blind arena (battle, vote, reveal, class ratings) and the leaderboard cards. Logic in lab.evaluate."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from lab.core.errors import LabError
from lab.core.keys import ENV_VARS
from lab.evaluate import arena, models, rungs, suite
from lab.evaluate.leaderboards import BOARDS
from lab.evaluate.ratings import ratings
from ui.session import session_id, session_path
from ui.widgets import ProviderChoice, show_error

VOTE_LABELS = {"a": "👈 A is better", "b": "👉 B is better", "tie": "🤝 Tie", "bad": "👎 Both are bad"}


def build(spec: models.ModelSpec):
    """The provider as every lab builds it: the local model waits in the class's queue, a pasted key is used
    for this session only, a deployment key is charged to the budgets (ui.widgets.ProviderChoice)."""
    return ProviderChoice(spec.provider, spec.model, spec.base_url).build()


def key_fields() -> None:
    with st.sidebar.expander("API keys (this session only)"):
        for name in ("openai", "anthropic"):
            st.text_input(
                ENV_VARS[name],
                type="password",
                key=f"_pasted_key_{name}",
                help="Kept in this browser session's memory only; a key set by the deployment also works.",
            )


def pick_models(key: str, uploads: bool = True) -> list[models.ModelSpec]:
    """Local GGUFs (the bundled model, the models folder, the ladder's rungs, this session's uploads when
    ``uploads``) plus API models by name. The arena passes ``uploads=False``: its votes are shared with the class."""
    local = {m.label: m for m in models.local_candidates(session_path("models") if uploads else None)}
    rung_labels = [k for k in local if "-F16" in k or "-Q8_0" in k or "-Q4_K_M" in k]
    c1, c2 = st.columns([3, 2])
    chosen = c1.multiselect(
        "Local models (GGUF)",
        list(local),
        default=rung_labels[:3] or list(local)[:1],
        key=f"{key}.local",
        format_func=lambda k: f"{k} ({local[k].bytes / 1e6:,.0f} MB)",
        help="The bundled SmolLM2, files in the models folder, and the quantization ladder's rungs.",
    )
    remote = c2.text_input(
        "API models",
        "",
        key=f"{key}.remote",
        placeholder="openai:gpt-4o-mini, anthropic:claude-haiku-4-5",
        help="provider:model, comma-separated. Needs the provider's key (sidebar) or server.",
    )
    if not rung_labels and c1.button(
        "Make the rungs F16, Q8_0, Q4_K_M",
        key=f"{key}.rungs",
        help="Quantizes the bundled Q4_1 with llama.cpp (allow_requantize), ~1 s each.",
    ):
        try:
            with st.spinner("Quantizing..."):
                rungs.ensure()
            st.rerun()
        except LabError as e:
            show_error(e)
    specs = [local[k] for k in chosen]
    try:
        specs += models.parse_list(remote) if remote.strip() else []
    except LabError as e:
        show_error(e)
    return specs


def run_suite(specs, task_names, n, judge_spec: str = "") -> list[suite.Row] | None:
    bar = st.progress(0.0, text="Starting...")

    def on_progress(done: int, total: int, msg: str) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=msg)

    try:
        judge = None
        if judge_spec.strip():
            from lab.evaluate.judge import Judge

            j = models.parse(judge_spec)
            judge = Judge(build(j), j.model_arg, f"judge {j.label}")
        return suite.run_suite(specs, task_names, n=n, build=build, on_progress=on_progress, judge=judge)
    except LabError as e:
        show_error(e)
        return None


def show_results(rows: list[suite.Row]) -> None:
    table = pd.DataFrame(
        [
            {
                **r.to_json(),
                "MB": round(r.bytes / 1e6) if r.bytes else None,
                "n": r.n,
                "cost_usd": r.cost_usd,
                "error": r.error,
            }
            for r in rows
        ]
    ).drop(columns=["bytes"])
    st.dataframe(table, hide_index=True, width="stretch", key="evaluate.table")
    pivot = table.pivot_table(index="model", columns="task", values="score", aggfunc="first")
    if not pivot.empty:
        st.caption("Score per task (0-1): the same numbers, one row per model.")
        st.dataframe(pivot, width="stretch")
    x = st.radio(
        "Chart x axis",
        ["latency_ms_p50", "tok_s"],
        horizontal=True,
        key="evaluate.x",
        format_func={"latency_ms_p50": "median latency (ms)", "tok_s": "decode speed (tok/s)"}.get,
    )
    st.plotly_chart(suite.perf_chart(rows, x), key="evaluate.chart")
    st.caption(
        "As the LLM-Perf leaderboard: y = quality, x = speed, bubble = file size (◆ = API model, size "
        "unknown). The best trade-offs are high, fast and small."
    )
    for r in rows:
        with st.expander(
            f"{r.model} · {r.task}: " + ("error" if r.score is None else f"{r.score:.2f} over {r.n} cases")
        ):
            if r.error:
                st.error(r.error)
            st.dataframe(pd.DataFrame([c.__dict__ for c in r.cases]), hide_index=True, width="stretch")


def battle_box(specs: list[models.ModelSpec]) -> None:
    prompt = st.text_area(
        "Your prompt for both models",
        "Explain in two sentences why the sky is blue.",
        key="evaluate.prompt",
        max_chars=2000,
    )
    if st.button("⚔️ New battle", type="primary", key="evaluate.battle_go"):
        try:
            with st.spinner("Both models are answering (names hidden)..."):
                st.session_state["evaluate.battle"] = arena.answer(arena.new_battle(specs, prompt), build=build)
        except LabError as e:
            show_error(e)
    b: arena.Battle | None = st.session_state.get("evaluate.battle")
    if b is None:
        return
    cols = st.columns(2)
    for col, side, text in ((cols[0], "A", b.answer_a), (cols[1], "B", b.answer_b)):
        box = col.container(border=True)
        box.markdown(
            f"**Model {side}**" + (f": {b.model_a.label if side == 'A' else b.model_b.label}" if b.voted else "")
        )
        box.markdown(text or "_(no answer)_")
    for e in b.errors:
        st.warning(e)
    if not b.voted and not b.errors:
        vcols = st.columns(4)
        for col, (choice, label) in zip(vcols, VOTE_LABELS.items()):
            if col.button(label, key=f"evaluate.vote_{choice}", width="stretch"):
                arena.vote(arena.VoteStore(), b, choice, voter=session_id())
                st.rerun()
    elif b.voted:
        st.success(f"Vote recorded. Model A was **{b.model_a.label}**, model B was **{b.model_b.label}**.")


def ratings_box() -> None:
    store = arena.VoteStore()
    battles = store.battles()
    method = st.radio(
        "Rating method",
        ["bt", "elo"],
        horizontal=True,
        key="evaluate.method",
        format_func={"bt": "Bradley-Terry (as the Arena)", "elo": "online Elo (order-dependent)"}.get,
    )
    st.caption(
        f"{len(battles)} votes from the whole class (you: {store.count(session_id())}). 95% intervals by "
        "bootstrap: when two intervals overlap, the class has not shown a real difference yet."
    )
    if not battles:
        st.info("No votes yet: run a battle above.")
        return
    rows = ratings(battles, method=method, rounds=100)
    st.dataframe(
        pd.DataFrame([{**r, "ci": f"{r['ci'][0]:.0f} - {r['ci'][1]:.0f}"} for r in rows]),
        hide_index=True,
        width="stretch",
        key="evaluate.ratings",
    )


def leaderboard_cards() -> None:
    cols = st.columns(2)
    for i, b in enumerate(BOARDS):
        box = cols[i % 2].container(border=True)
        box.markdown(f"**[{b.name}]({b.url})**  \n_{b.axis}_")
        box.markdown(f"**Measures:** {b.measures}  \n**How:** {b.how}  \n**Mind:** {b.caveat}")
