"""Streamlit section of the GGUF Runner page: the quantization ladder (convert, quantize, measure every rung).

``render_ladder_section()`` reads the choices (source, types, held-out text, measurement options), runs
``lab.gguf.ladder.ladder`` with a progress bar, and shows the "find your best model" view: file size against
perplexity with generation speed as the marker size, a table, and llama.cpp's fallback warnings in plain words.
No lab logic here: every number comes from ``lab.gguf``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from lab.core.errors import LabError
from lab.core.settings import REPO_ROOT
from lab.finetune import runner
from lab.gguf.ladder import LadderOptions, finetune_runs, ladder
from lab.gguf.quality import DEFAULT_TEXT
from lab.gguf.quantize import TYPES, supported_types
from ui.session import session_dir
from ui.widgets import model_widgets, show_error

SMOLLM2 = "SmolLM2-135M-Instruct (transformers copy, offline)"
OTHER = "Another folder, F16 GGUF or Hub id..."
INTRO = (
    "A **quantization ladder**: the same model converted to F16 with llama.cpp's own `convert_hf_to_gguf.py`, then "
    "quantized to smaller types with `llama_model_quantize`. Every rung is measured on the same held-out text: "
    "**perplexity** (lower is better), **top-1 agreement** with F16 (how often both pick the same next token) and "
    "**KL divergence** from F16 (how far the whole next-token distribution moved), plus size and speed."
)


def _text_choice(key: str) -> str:
    kb = sorted((REPO_ROOT / "knowledge-base").rglob("*.md"))
    mode = st.radio("Held-out text", ["Knowledge-base file", "Paste a text"], horizontal=True, key=f"{key}.mode")
    if mode == "Paste a text":
        return st.text_area(
            "Text",
            height=150,
            key=f"{key}.paste",
            help="A paragraph or more the model has not been tuned on; the same tokens score every rung.",
        )
    names = [str(p.relative_to(REPO_ROOT / "knowledge-base")) for p in kb]
    default = str(DEFAULT_TEXT.relative_to(REPO_ROOT / "knowledge-base"))
    name = st.selectbox("File", names, index=names.index(default) if default in names else 0, key=f"{key}.file")
    return (REPO_ROOT / "knowledge-base" / name).read_text(encoding="utf-8")


def _source(key: str) -> str | None:
    roots = [runner.runs_dir(), session_dir("runs")]  # the CLI's runs and this session's, never a classmate's
    runs = {f"Fine-tune run {p.name} (adapter merged into its base)": str(p) for p in finetune_runs(roots)}
    choice = st.selectbox(
        "Source model",
        [SMOLLM2, *runs, OTHER],
        key=f"{key}.source",
        help="A transformers folder is converted to F16 first; a run's LoRA adapter is merged first.",
    )
    if choice == OTHER:
        return (
            st.text_input(
                "Folder, .gguf or Hub id",
                key=f"{key}.path",
                help="A transformers model folder, an F16 GGUF, or a Hub id such as "
                "HuggingFaceTB/SmolLM2-135M-Instruct (online only).",
            ).strip()
            or ""
        )
    return runs.get(choice)  # None = the SmolLM2 transformers copy


def ladder_figure(df: pd.DataFrame):
    """Size (MB) against perplexity; marker size = generation tok/s; one colour per type."""
    fig = px.scatter(
        df,
        x="MB",
        y="perplexity",
        size="tg tok/s",
        color="type",
        text="type",
        hover_data=["bits/weight", "top-1 agree", "KL", "pp tok/s", "tg tok/s"],
        title="Find your best model: smaller (left) and better (lower); bigger marker = faster",
    )
    fig.update_traces(textposition="top center")
    return fig


def ladder_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "type": r["type"],
                "MB": round(r["bytes"] / 1e6, 1),
                "bits/weight": r["bpw"],
                "perplexity": round(r["ppl"], 3),
                "top-1 agree": None if r["top1_agree"] is None else round(r["top1_agree"], 3),
                "KL": None if r["kl"] is None else round(r["kl"], 4),
                "pp tok/s": round(r["pp_tps"], 1),
                "tg tok/s": round(r["tg_tps"], 1),
                "load s": round(r["load_s"], 2),
                "file": Path(r["path"]).name,
            }
            for r in rows
        ]
    )


def show_results(rows: list[dict], where=st) -> None:
    df = ladder_table(rows)
    where.plotly_chart(ladder_figure(df), width="stretch", key=f"ladder-fig-{len(rows)}")
    where.dataframe(df, hide_index=True, width="stretch")
    ref = rows[0]
    where.caption(
        f"Perplexity and agreement over the same {ref['type']} token positions. Speed figures come from this "
        "machine as it is now: a busy shared machine gives lower, noisier tok/s."
    )
    for r in rows:
        if r["fallbacks"] or r["warnings"]:
            with where.expander(f"{r['type']}: what llama.cpp said", expanded=False):
                for line in r["warnings"] + r["fallbacks"]:
                    st.markdown(f"- {line}")


def render_ladder_section(key: str = "ladder") -> None:
    """The whole section: choices, the run with progress, then the chart, table and plain-words warnings."""
    st.markdown(INTRO)
    source = _source(key)
    avail = supported_types()
    types = st.multiselect(
        "Quantization types",
        avail,
        default=[t for t in ["Q8_0", "Q4_K_M", "Q4_0", "Q2_K"] if t in avail],
        key=f"{key}.types",
        help="; ".join(f"{t}: {TYPES[t][1]}" for t in avail),
    )
    text = _text_choice(key)
    with st.expander("Measurement settings"):
        opts = model_widgets(LadderOptions, ["max_tokens", "n_prompt", "n_gen", "repeats", "allow_requantize"], key=key)
    clicked = st.button("Build and measure the ladder", type="primary", key=f"{key}.run")
    if clicked and (source == "" or not types or not (text or "").strip()):
        st.warning("Choose a source, at least one type and a text first.")  # no st.stop(): other tabs still render
    elif clicked:
        bar = st.progress(0.0, text="Starting...")
        try:
            rungs = ladder(
                source, types, text, LadderOptions(**opts), lambda msg, frac: bar.progress(frac, text=msg[:150])
            )
            st.session_state[f"{key}.rows"] = [r.to_dict() for r in rungs]
            bar.progress(1.0, text="Done.")
        except LabError as e:
            show_error(e)
    rows = st.session_state.get(f"{key}.rows")
    if rows:
        show_results(rows)
