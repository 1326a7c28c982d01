"""Pricer lab: curate product data, price it with classical baselines, a neural network, an LLM (with RAG), an
ensemble and you, all on the course's scoreboard. Logic in lab.pricer; charts, tabs and cached data in ui.pricer."""

import streamlit as st

from lab.core.errors import LabError
from lab.pricer import data, llm, metrics
from ui import pricer as U
from ui.session import session_dir
from ui.widgets import explained, model_widgets, provider_picker, show_error, show_messages

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
truth = [i.price for i in ds.test]
tabs = st.tabs(
    ["Data", "Baselines", "Network", "LLM pricer", "Rewrite (LLM)", "Ensemble", "Scoreboard", "Beat the model"]
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
    n = st.slider("Test items to price", 1, len(ds.test), min(10, len(ds.test)), key="pricer.llm_n")
    rag = st.checkbox("RAG: show the model the 5 most similar training items with their prices", key="pricer.rag")
    if choice.provider == "local":
        st.caption("SmolLM2-135M is tiny: expect copied or missing numbers. A frontier model needs a key.")
    show_messages(
        llm.messages_for(ds.test[0], ds.train[:2] if rag else None),
        label="Messages for the first item (RAG shots shown as placeholders)" if rag else "Messages for the first item",
    )
    if st.button("Price them", type="primary", key="pricer.llm"):
        bar = st.progress(0.0)
        with explained():
            similar = llm.SimilarItems(ds.train) if rag else None
            run = llm.price_items(
                choice.build(),
                ds.test[:n],
                model=choice.model_arg,
                similar=similar,
                on_guess=lambda i, g: bar.progress((i + 1) / n, f"{i + 1}/{n}: {g.reply[:40]!r}"),
            )
            st.session_state["pricer_llm"] = run
            U.add_run(key, f"{run.name} (first {n})", run.preds, run.result)
    if "pricer_llm" in st.session_state:
        run = st.session_state["pricer_llm"]
        st.markdown(
            f"**{run.name}**: MAE ${run.result['mae']:,.2f}, hit rate {run.result['hit_rate']:.0%}, "
            f"{run.result['misses']} replies without a number (counted as misses)."
        )
        U.guesses_table(run.guesses, run.result["colors"])

with tabs[4], explained():
    U.rewrite_tab(ds, key, cfg.seed, choice)

with tabs[5]:
    U.ensemble_tab(ds, key, cfg.seed)

with tabs[6]:
    if runs:
        U.score_table(runs)
        U.ci_chart(runs)
        name = st.selectbox("Chart", list(runs), key="pricer.chart")
        U.scoreboard(ds, name, runs[name])
        U.error_breakdown(ds, name, runs[name])
    else:
        st.info("Train a baseline, run the LLM pricer or fit an ensemble: their scoreboards appear here.")
    st.subheader("Leaderboard (every run so far, kept across sessions)")
    U.leaderboard()

with tabs[7]:
    k = st.number_input(
        "How many items will you price?", 1, min(20, len(ds.test)), min(5, len(ds.test)), key="pricer.k"
    )
    with st.form("pricer.beat"):
        guesses = [
            st.number_input(f"{i.title} — {i.text.splitlines()[-1][:160]}", 0.0, 100_000.0, 0.0, key=f"pricer.guess{j}")
            for j, i in enumerate(ds.test[:k])
        ]
        who = st.text_input("Your name for the leaderboard", key="pricer.who")
        sent = st.form_submit_button("Score me", type="primary")
    if sent:
        with explained():
            you = metrics.score(truth[:k], [g if g > 0 else None for g in guesses])
            row = metrics.record(f"you: {who}", you, kind="human")
            st.success(
                f"{row['name']}: MAE ${you['mae']:,.2f}, hit rate {you['hit_rate']:.0%} "
                f"({' '.join({'green': '🟢', 'orange': '🟠', 'red': '🔴'}[c] for c in you['colors'])})"
            )
            st.caption("True prices: " + ", ".join(f"${t:,.2f}" for t in truth[:k]))
            U.versus(runs, truth[:k], you)
