"""Pricer lab: curate product data, price it with classical baselines, an LLM (with RAG), an ensemble and you,
all on the course's scoreboard. Logic in lab.pricer; charts and cached data in ui.pricer."""

import streamlit as st

from lab.llm.base import LabError
from lab.pricer import baselines as B
from lab.pricer import data as D
from lab.pricer import ensemble as E
from lab.pricer import llm as L
from lab.pricer import metrics as M
from ui import pricer as U
from ui.secrets import session_dir
from ui.widgets import explained, model_widgets, provider_picker, show_error, show_messages

st.title("🏷️ Pricer")
st.caption("How much does this cost? The course's week 6-8 project: curate products, set baselines, then see "
           "whether an LLM beats them - scored the course's way (green: within $40 or 20%).")

with st.sidebar:
    st.markdown("**Data**")
    source = st.radio("Source", ["offline", "upload", "amazon"], horizontal=True, key="pricer.source",
                      help="offline: 643 real Costco electronics (shipped). upload: your CSV/JSONL. amazon: the "
                           "course's Amazon-Reviews-2023 (needs the Hub).")
    upload = st.file_uploader("CSV or JSONL (title, description, price)", ["csv", "jsonl", "json"]) if source == "upload" else None
    category = st.selectbox("Amazon category", D.AMAZON_CATEGORIES) if source == "amazon" else ""
    tok = st.selectbox("Tokenizer", ["smollm2", "cl100k_base", "o200k_base"], key="pricer.tok",
                       help=D.DataConfig.model_fields["tokenizer"].description)
    lo, hi = st.columns(2)
    min_price = lo.number_input("Min price $", 0.0, 100_000.0, 1.0, help=D.DataConfig.model_fields["min_price"].description)
    max_price = hi.number_input("Max price $", 1.0, 100_000.0, 999.49, help=D.DataConfig.model_fields["max_price"].description)
    knobs = model_widgets(D.DataConfig, ["min_chars", "max_tokens", "max_per_category", "test_items", "seed"],
                          where=st, key="pricer.")
    choice = provider_picker(where=st)

if source == "upload" and upload is None:
    st.info("Upload a CSV or JSON-lines file with title, description and price columns (category optional).")
    st.stop()
try:
    cfg = D.DataConfig(tokenizer=tok, min_price=min_price, max_price=max_price, **knobs)
    ds = U.dataset(source, cfg.model_dump_json(), upload.name if upload else "", upload.getvalue() if upload else b"",
                   category)
except (LabError, ValueError) as e:
    show_error(e)
    st.stop()
key = f"{source}:{category}:{upload.name if upload else ''}:{cfg.model_dump_json()}"
runs = U.runs(key)
truth = [i.price for i in ds.test]
tabs = st.tabs(["Data", "Baselines", "LLM pricer", "Ensemble", "Scoreboard", "Beat the model"])

with tabs[0]:
    U.data_view(ds)
    if st.button("Export as a datasets.DatasetDict", key="pricer.export"):
        with st.spinner("Saving..."):
            st.success(f"Saved: {D.export(ds, session_dir('pricer-dataset'))['path']}")   # this session's folder

with tabs[1]:
    names = st.multiselect("Baselines", B.NAMES, default=B.NAMES[:4], key="pricer.baselines")
    if st.button("Train and score", type="primary", key="pricer.train") and names:
        with explained(), st.spinner("Training (MiniLM models embed every item once)..."):
            for r in B.run_baselines(ds, names, seed=cfg.seed):
                U.add_run(key, r.name, r.preds, r.result)
    if runs:
        U.score_table(runs)
    st.caption(f"Trained models are saved with joblib under {B.model_path('x').parent} and reload with "
               "`lab.pricer.baselines.load(name)`.")

with tabs[2]:
    n = st.slider("Test items to price", 1, len(ds.test), min(10, len(ds.test)), key="pricer.llm_n")
    rag = st.checkbox("RAG: show the model the 5 most similar training items with their prices", key="pricer.rag")
    if choice.provider == "local":
        st.caption("SmolLM2-135M is tiny: expect copied or missing numbers. A frontier model needs a key.")
    show_messages(L.messages_for(ds.test[0], ds.train[:2] if rag else None), label="Messages for the first item (RAG "
                  "shots shown as placeholders)" if rag else "Messages for the first item")
    if st.button("Price them", type="primary", key="pricer.llm"):
        bar = st.progress(0.0)
        with explained():
            similar = L.SimilarItems(ds.train) if rag else None
            run = L.price_items(choice.build(), ds.test[:n], model=choice.model_arg, similar=similar,
                                on_guess=lambda i, g: bar.progress((i + 1) / n, f"{i + 1}/{n}: {g.reply[:40]!r}"))
            st.session_state["pricer_llm"] = run
            U.add_run(key, f"{run.name} (first {n})", run.preds, run.result)
    if "pricer_llm" in st.session_state:
        run = st.session_state["pricer_llm"]
        st.markdown(f"**{run.name}**: MAE ${run.result['mae']:,.2f}, hit rate {run.result['hit_rate']:.0%}, "
                    f"{run.result['misses']} replies without a number (counted as misses).")
        U.guesses_table(run.guesses, run.result["colors"])

with tabs[3]:
    picked = st.multiselect("Combine", B.NAMES[2:], default=["bag of words + LR", "MiniLM + SVR"], key="pricer.ens")
    st.caption("A linear regression over the models' guesses plus their min and max, fitted on out-of-fold "
               "guesses for the training items (5 folds), then scored on the test items.")
    if st.button("Fit the ensemble", type="primary", key="pricer.ensemble"):
        with explained():
            with st.spinner("Cross-validating each model..."):
                ens, preds, result = E.from_baselines(ds, picked, seed=cfg.seed)
            U.add_run(key, "ensemble of " + ", ".join(picked), preds, result)
            st.dataframe([{"input": k, "weight": round(v, 4)} for k, v in ens.weights().items()], hide_index=True)

with tabs[4]:
    if runs:
        U.score_table(runs)
        name = st.selectbox("Chart", list(runs), key="pricer.chart")
        U.scoreboard(ds, name, runs[name])
    else:
        st.info("Train a baseline, run the LLM pricer or fit an ensemble: their scoreboards appear here.")
    st.subheader("Leaderboard (every run so far, kept across sessions)")
    U.leaderboard()

with tabs[5]:
    k = st.number_input("How many items will you price?", 1, min(20, len(ds.test)), min(5, len(ds.test)), key="pricer.k")
    with st.form("pricer.beat"):
        guesses = [st.number_input(f"{i.title} — {i.text.splitlines()[-1][:160]}", 0.0, 100_000.0, 0.0,
                                   key=f"pricer.guess{j}") for j, i in enumerate(ds.test[:k])]
        who = st.text_input("Your name for the leaderboard", key="pricer.who")
        sent = st.form_submit_button("Score me", type="primary")
    if sent:
        with explained():
            you = M.score(truth[:k], [g if g > 0 else None for g in guesses])
            row = M.record(f"you: {who}", you, kind="human")
            st.success(f"{row['name']}: MAE ${you['mae']:,.2f}, hit rate {you['hit_rate']:.0%} "
                       f"({' '.join({'green': '🟢', 'orange': '🟠', 'red': '🔴'}[c] for c in you['colors'])})")
            st.caption("True prices: " + ", ".join(f"${t:,.2f}" for t in truth[:k]))
            U.versus(runs, truth[:k], you)
