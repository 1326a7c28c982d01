"""Pricer lab: curate product data, price it with classical baselines, a neural network, an LLM (with RAG), an
ensemble and you, all on the course's scoreboard. Logic in lab.pricer; charts, tabs and cached data in ui.pricer."""

import streamlit as st

from lab.core.errors import LabError
from lab.pricer import data
from ui import pricer as U
from ui.session import session_dir
from ui.widgets import explained, model_widgets, provider_picker, show_error

st.title("🏷️ Pricer")
st.caption(
    "How much does this cost? The course's week 6-8 project: curate products, set baselines, then see "
    "whether an LLM beats them - scored the course's way (green: within $40 or 20%)."
)

with st.sidebar:
    st.markdown("**Data**")
    source = st.radio(
        "Source",
        ["offline", "upload", "amazon", "course"],
        horizontal=True,
        key="pricer.source",
        help="offline: 643 real Costco electronics (shipped). upload: your CSV/JSONL. amazon: the "
        "course's raw Amazon-Reviews-2023; course: its curated items_lite / items_full (the Hub).",
    )
    upload = (
        st.file_uploader("CSV or JSONL (title, description, price)", ["csv", "jsonl", "json"])
        if source == "upload"
        else None
    )
    category = (
        st.selectbox("Amazon category", data.AMAZON_CATEGORIES)
        if source == "amazon"
        else st.selectbox("Course data set", data.COURSE_DATASETS)
        if source == "course"
        else ""
    )
    tok = st.selectbox(
        "Tokenizer",
        ["smollm2", "cl100k_base", "o200k_base"],
        key="pricer.tok",
        help=data.DataConfig.model_fields["tokenizer"].description,
    )
    lo, hi = st.columns(2)
    min_price = lo.number_input(
        "Min price $", 0.0, 100_000.0, 1.0, help=data.DataConfig.model_fields["min_price"].description
    )
    max_price = hi.number_input(
        "Max price $", 1.0, 100_000.0, 999.49, help=data.DataConfig.model_fields["max_price"].description
    )
    knobs = model_widgets(
        data.DataConfig,
        ["min_chars", "max_tokens", "max_per_category", "weighted_sample", "test_items", "cv_folds", "seed"],
        where=st,
        key="pricer.",
    )
    choice = provider_picker(where=st)

if source == "upload" and upload is None:
    st.info("Upload a CSV or JSON-lines file with title, description and price columns (category optional).")
    st.stop()
try:
    cfg = data.DataConfig(tokenizer=tok, min_price=min_price, max_price=max_price, **knobs)
    ds = U.dataset(
        source, cfg.model_dump_json(), upload.name if upload else "", upload.getvalue() if upload else b"", category
    )
except (LabError, ValueError) as e:
    show_error(e)
    st.stop()
key = f"{source}:{category}:{upload.name if upload else ''}:{cfg.model_dump_json()}"
runs = U.runs(key)
tabs = st.tabs(
    ["Data", "Baselines", "Network", "LLM pricer", "Rewrite (LLM)", "Ensemble", "Scoreboard", "Beat the model"],
    key="pricer.tabs",
)

with tabs[0]:
    U.data_view(ds)
    if st.button("Export as a datasets.DatasetDict", key="pricer.export"):
        with st.spinner("Saving..."):
            st.success(f"Saved: {data.export(ds, session_dir('pricer-dataset'))['path']}")  # this session's folder

with tabs[1]:
    U.baselines_tab(ds, key, cfg.seed)

with tabs[2]:
    U.network_tab(ds, key, cfg.seed)

with tabs[3]:
    U.llm_tab(ds, key, choice)

with tabs[4], explained():
    U.rewrite_tab(ds, key, cfg.seed, choice)

with tabs[5]:
    U.ensemble_tab(ds, key, cfg.seed)

with tabs[6]:
    U.scoreboard_tab(ds, runs)

with tabs[7]:
    U.beat_tab(ds, runs)
