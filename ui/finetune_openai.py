"""The Fine-tune page's OpenAI tab: prepare the course's chat JSONL, validate before paying, launch, follow, use it.

``render_openai_tab()`` draws four sub-tabs; all logic lives in ``lab.finetune.openai_data`` (offline) and
``lab.finetune.openai_jobs`` (the SDK). Keys come from ``ui.session`` (a pasted key goes explicitly, never into
the environment) and are never shown. The tab's base URL (and any recorded from it) counts as typed: it passes the
address guard, and the deployment's OPENAI_API_KEY never goes to it - only a key pasted here. Files and job
records are kept in the browser session's own folder
(``<data_dir>/sessions/<id>/finetune/openai``, ``openai_jobs.SESSION_FOLDER``): classmates never see or
overwrite each other's files, jobs or fine-tuned model ids, and a reload of the page keeps following a job.
The CLI's records (``<data_dir>/finetune/openai_jobs.json``) are never shown here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from lab.core.errors import LabError
from lab.core.keys import is_configured_base_url, register_secret
from lab.finetune import openai_data, openai_jobs
from ui.session import key_source, pasted_key, session_dir, session_path
from ui.widgets import show_error

CONCLUSION = (
    "**The course's conclusion.** Fine-tuning GPT-4o-mini on a couple of hundred priced items barely "
    "beat simply prompting it: a frontier model already knows roughly what things cost from pre-training, "
    "and a few hundred examples mostly teach it the answer's format. The big gains came elsewhere: "
    "fine-tuning an open model on far more data, then an ensemble. Judge your own figures the same way: "
    "is the gap to the base model bigger than the noise of a small test set?"
)
COLORS = {"green": "#2ca02c", "orange": "#ff7f0e", "red": "#d62728"}


def _out_dir() -> Path:
    """This session's folder for prepared files and job records (created: for writing)."""
    return session_dir(*openai_jobs.SESSION_FOLDER)


def _records() -> dict[str, dict]:
    """This session's job records (read without creating the session's folder)."""
    return openai_jobs.records(session_path(*openai_jobs.SESSION_FOLDER))


def chat_bubbles(path: str, n: int = 3) -> None:
    """The first ``n`` examples as the model will see them."""
    with open(path, encoding="utf-8") as f:
        lines = [next(f, "") for _ in range(n)]
    for i, line in enumerate(text for text in lines if text.strip()):
        with st.container(border=True):
            st.caption(f"line {i + 1}")
            for m in json.loads(line)["messages"]:
                avatar = "⚙️" if m["role"] == "system" else None
                st.chat_message(m["role"], avatar=avatar).markdown(m["content"][:600])
    with st.expander("The first line, raw (what is uploaded)"):
        st.code(lines[0], language="json", wrap_lines=True)


def token_figure(counts: list[int], limit: int) -> go.Figure:
    fig = px.histogram(x=counts, nbins=30, labels={"x": "tokens per example (o200k_base, with the guide's overhead)"})
    if counts and max(counts) > limit * 0.8:
        fig.add_vline(x=limit, line_dash="dash", line_color="red", annotation_text="limit")
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), yaxis_title="examples")
    return fig


def show_report(name: str, rep: dict, model: str, epochs: int, prices: dict[str, float]) -> None:
    """Errors with line numbers, warnings, token distribution, cost."""
    if rep["ok"]:
        st.success(f"{name}: every line is a well-formed chat example. Nothing has been sent anywhere yet.")
    else:
        st.error(
            f"{name}: {len(rep['errors'])} problem(s). Fix them before uploading: OpenAI would reject the file "
            "minutes after upload. Nothing was uploaded. (Line 0 = the file as a whole.)"
        )
        st.dataframe(pd.DataFrame(rep["errors"]), hide_index=True, width="stretch", key="oa.errors")
    for w in rep["warnings"]:
        st.warning(w)
    cost = openai_data.estimate_cost(rep["tokens"], epochs, model, prices)
    c = st.columns(4)
    c[0].metric("Examples", rep["examples"])
    c[1].metric("Training tokens / epoch", f"{rep['tokens']:,}")
    c[2].metric("Longest example", f"{rep['max_example_tokens']:,} tok")
    c[3].metric(
        "Estimated cost",
        "n/a" if cost is None else f"${cost:.4f}",
        help=f"{rep['tokens']:,} tokens x {epochs} epoch(s) x ${prices.get(model, 0):.2f} per 1M "
        f"training tokens ({model}, prices as of {openai_data.TRAINING_PRICES_AS_OF}).",
    )
    if rep["token_counts"]:
        st.plotly_chart(
            token_figure(rep["token_counts"], openai_data.MAX_TOKENS_PER_EXAMPLE), width="stretch", key="oa.tokens"
        )


def _prepare_tab() -> None:
    st.caption(
        "The course's examples: system prompt, the product as the user turn, 'Price is $NN.00' as the answer. "
        "Training items come from the pricer's training split; validation items are the next ones."
    )
    c = st.columns(2)
    n = c[0].number_input(
        "Training examples", 10, 250, 200, key="oa.n", help="OpenAI needs at least 10; the course used 200."
    )
    n_val = c[1].number_input("Validation examples", 1, 100, 50, key="oa.n_val", help="The course used 50.")
    if st.button("Prepare files", key="oa.prepare", type="primary"):
        try:
            with st.spinner("Building examples from the pricer data..."):
                st.session_state["oa.prepared"] = openai_data.prepare(int(n), int(n_val), _out_dir()).to_dict()
            st.session_state.pop("oa.report", None)
        except LabError as e:
            show_error(e)
    prep = st.session_state.get("oa.prepared")
    if prep:
        st.success(
            f"{prep['examples']} training examples ({prep['tokens']:,} tokens) and {prep['validation_examples']} "
            f"validation examples written. Next: validate them."
        )
        chat_bubbles(prep["train"])


def _picked_file(source: str, sources: list[str], prep: dict | None, upload) -> tuple[str, bytes, str] | None:
    """(name, bytes, path or '') of the file to check, or None after saying what is missing."""
    if source == sources[3]:
        if upload is None:
            st.warning("Choose a .jsonl file first.")
            return None
        return upload.name, upload.getvalue(), ""
    if not prep:
        st.warning("Prepare the files first (tab 1).")
        return None
    path = Path(prep["validation" if source == sources[1] else "train"])
    if source == sources[2]:
        path = openai_data.broken_copy(path, path.with_name("train_broken.jsonl"))
    return path.name, path.read_bytes(), str(path)


def _validate_tab() -> None:
    prep = st.session_state.get("oa.prepared")
    sources = ["training file", "validation file", "training file with deliberate mistakes (demo)", "upload a JSONL"]
    source = st.radio("File to check", sources, key="oa.source", horizontal=True)
    upload = st.file_uploader("JSONL", type=["jsonl"], key="oa.upload") if source == sources[3] else None
    c = st.columns(2)
    model = c[0].selectbox(
        "Base model", list(openai_data.TRAINING_PRICES), key="oa.model", help="Fine-tunable models in the price table."
    )
    epochs = c[1].number_input(
        "Epochs", 1, 25, 1, key="oa.epochs", help="Passes over the training file; cost scales with it."
    )
    as_of = openai_data.TRAINING_PRICES_AS_OF
    with st.expander(f"Training prices, $ per 1M tokens (as of {as_of}; edit if they changed)"):
        prices_now = openai_data.TRAINING_PRICES
        table = st.data_editor(
            pd.DataFrame({"model": list(prices_now), "usd_per_1m": list(prices_now.values())}),
            hide_index=True,
            disabled=["model"],
            key="oa.prices",
        )
    prices = dict(zip(table["model"], table["usd_per_1m"]))
    if st.button("Validate", key="oa.validate", type="primary"):
        try:
            picked = _picked_file(source, sources, prep, upload)
            if picked:  # the minimum of 10 examples is for training files only
                least = 1 if source == sources[1] else openai_data.MIN_EXAMPLES
                rep = openai_data.validate_bytes(picked[1], min_examples=least)
                st.session_state["oa.report"] = (
                    picked[0],
                    rep.to_dict() | {"token_counts": rep.token_counts, "path": picked[2]},
                )
        except LabError as e:
            show_error(e)
    if "oa.report" in st.session_state:
        name, rep = st.session_state["oa.report"]
        show_report(name, rep, model, int(epochs), prices)


def _api_key() -> str | None:
    """A key pasted here or in the sidebar's picker (session only, stripped, registered for redaction); None lets
    lab use OPENAI_API_KEY where that may go."""
    here = (st.session_state.get("oa.key") or "").strip()
    register_secret(here)
    return here or pasted_key("openai")


def _key_ok(base_url: str | None = None) -> bool:
    """Whether launching and following may go ahead for ``base_url``: with a key for api.openai.com, or towards a
    server the student typed (with their pasted key, or none). The deployment's OPENAI_API_KEY goes only to
    api.openai.com (or the deployment's own OPENAI_BASE_URL), never to a base URL typed here (lab.core.keys)."""
    if key_source("openai", base_url, typed=True) == "deployment" and not _api_key():
        st.caption("Key: set by the deployment (OPENAI_API_KEY).")
        return True
    own_server = not is_configured_base_url("openai", base_url)
    if own_server and not _api_key():
        st.caption(
            (
                "The deployment's OPENAI_API_KEY is sent only to api.openai.com, never to a base URL typed here. "
                if key_source("openai") == "deployment"
                else ""
            )
            + "Paste your own key for that server below, or leave it empty if the server needs none."
        )
    st.text_input(
        "OPENAI_API_KEY (this session only)",
        type="password",
        key="oa.key",
        help="Kept in this browser session's memory only: never saved, logged or shown to others.",
    )
    if own_server and not _api_key():
        return True
    if not _api_key():
        st.info(
            "Launching and following jobs needs an OpenAI key: set **OPENAI_API_KEY** in the environment (or "
            ".streamlit/secrets.toml), or paste one above for this session. Preparing and validating work "
            "without it."
        )
        return False
    st.caption("Key: pasted for this session.")
    return True


def _follow(job_id: str, base_url: str | None) -> None:
    try:  # a base URL typed here (or recorded from that field) is guarded and gets no deployment key
        view = openai_jobs.follow(
            job_id, api_key=_api_key(), base_url=base_url, records_dir=_out_dir(), typed_base_url=True
        )
    except LabError as e:
        show_error(e)
        return
    job = view["job"]
    if view["problem"]:
        st.warning(view["problem"])
    c = st.columns(3)
    c[0].metric("Status", job.get("status", "?"))
    c[1].metric("Trained tokens", f"{job['trained_tokens']:,}" if job.get("trained_tokens") else "-")
    c[2].metric("Base model", job.get("model") or "-")
    err = job.get("error")
    if isinstance(err, dict) and err.get("message"):
        st.error(f"The job failed: {err['message']}")
    if job.get("fine_tuned_model"):
        st.success(f"Fine-tuned model: `{job['fine_tuned_model']}` (use it in tab 4, or with provider openai).")
    if view["metrics"]:
        df = pd.DataFrame(view["metrics"])
        fig = go.Figure()
        for col, label in (("train_loss", "training loss"), ("valid_loss", "validation loss")):
            if col in df:
                pts = df.dropna(subset=[col])
                fig.add_trace(go.Scatter(x=pts["step"], y=pts[col], mode="lines+markers", name=label))
        fig.update_layout(height=300, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="step", yaxis_title="loss")
        st.plotly_chart(fig, width="stretch", key=f"oa.loss-{job_id}")
    if view["events"]:
        ev = pd.DataFrame(view["events"])[["created_at", "level", "message"]]
        ev["created_at"] = pd.to_datetime(ev["created_at"], unit="s")
        st.dataframe(ev, hide_index=True, width="stretch", key=f"oa.events-{job_id}")
    if job.get("status") not in openai_jobs.TERMINAL and view["reachable"] and st.button("Cancel job", key="oa.cancel"):
        try:
            openai_jobs.cancel(
                job_id, api_key=_api_key(), base_url=base_url, records_dir=_out_dir(), typed_base_url=True
            )
            st.toast("Cancel requested.")
        except LabError as e:
            show_error(e)


def _launch_tab() -> None:
    base_url = (
        st.text_input(
            "Base URL (optional)",
            key="oa.base_url",
            help="Leave empty for api.openai.com; or an OpenAI-shaped server, used with a key you "
            "paste here (the deployment's key never goes to a typed address).",
        ).strip()
        or None
    )
    has_key = _key_ok(base_url)
    prep, rep = st.session_state.get("oa.prepared"), st.session_state.get("oa.report")
    validated = bool(prep and rep and rep[1]["path"] == prep["train"] and rep[1]["ok"])
    c = st.columns(3)
    seed = c[0].number_input("Seed", 0, 2**31 - 1, 42, key="oa.seed")
    suffix = c[1].text_input("Suffix", "pricer", max_chars=64, key="oa.suffix", help="Appears in the model's name.")
    wandb = c[2].text_input(
        "W&B project (optional)",
        key="oa.wandb",
        help="Link your W&B key once in OpenAI's organization settings; the job only names the project.",
    )
    model = st.session_state.get("oa.model", openai_data.DEFAULT_MODEL)
    epochs = int(st.session_state.get("oa.epochs", 1))
    if not validated:
        st.caption("Launch unlocks once the prepared training file validates (tab 2).")
    cost = openai_data.estimate_cost(rep[1]["tokens"], epochs, model) if validated else None
    agree = st.checkbox(
        f"I understand this job is billed to the key (about ${cost or 0:.2f}, {epochs} epoch(s) of {model}).",
        key="oa.agree",
        disabled=not (has_key and validated),
    )
    if st.button("Upload and launch", key="oa.launch", type="primary", disabled=not (has_key and validated and agree)):
        try:
            with st.spinner("Validating, uploading both files, creating the job..."):
                job = openai_jobs.launch(
                    prep["train"],
                    prep["validation"],
                    model=model,
                    epochs=epochs,
                    seed=int(seed),
                    suffix=suffix or None,
                    wandb_project=wandb or None,
                    api_key=_api_key(),
                    base_url=base_url,
                    records_dir=_out_dir(),
                    typed_base_url=True,
                )
            st.session_state["oa.job"] = job["id"]
        except LabError as e:
            show_error(e)
    recs = _records()
    ids = sorted(recs, key=lambda i: recs[i].get("created_at") or 0, reverse=True)
    if st.session_state.get("oa.job") in ids:
        ids.remove(st.session_state["oa.job"])
        ids.insert(0, st.session_state["oa.job"])
    if ids and has_key:
        job_id = st.selectbox("Follow job", ids, key="oa.follow")
        live = recs.get(job_id, {}).get("status") not in openai_jobs.TERMINAL

        @st.fragment(run_every=10.0 if live else None)
        def poll():
            _follow(job_id, base_url or recs.get(job_id, {}).get("base_url"))

        poll()
    st.subheader("Past jobs")
    if recs:
        st.dataframe(
            pd.DataFrame(list(recs.values())).drop(columns=["base_url"], errors="ignore"),
            hide_index=True,
            width="stretch",
            key="oa.past",
        )
    else:
        st.caption("No jobs launched from this session yet.")


def _use_tab() -> None:
    models = openai_jobs.fine_tuned_models(session_path(*openai_jobs.SESSION_FOLDER))
    if not models:
        st.info(
            "When a job succeeds, its model id appears here and is scored beside its base model. "
            "From a shell: `python -m lab finetune openai score ft:...`."
        )
        return
    ft = st.selectbox("Fine-tuned model", models, key="oa.ft_model")
    base = next((r["model"] for r in _records().values() if r.get("fine_tuned_model") == ft), openai_data.DEFAULT_MODEL)
    n = st.number_input("Test items", 1, 70, 20, key="oa.score_n", help="Items from the pricer's test split.")
    with_local = st.checkbox("Also the local model (SmolLM2-135M, slow on CPU)", key="oa.local")
    st.code(f'python -m lab chat --provider openai --model {ft} "..."', language="bash")
    if st.button("Score", key="oa.score", type="primary"):
        runs = [(ft, "openai"), (base, "openai")] + ([("SmolLM2-135M", "local")] if with_local else [])
        rows = []
        try:
            with st.spinner("Pricing the test items with each model..."):
                for model_id, provider in runs:
                    r = openai_jobs.score_model(model_id, int(n), api_key=_api_key(), provider=provider)
                    rows.append(
                        {
                            "model": model_id,
                            "MAE $": round(r["mae"], 2),
                            "RMSLE": round(r["rmsle"], 3),
                            "hit rate": round(r["hit_rate"], 3),
                            "no number": r["misses"],
                        }
                    )
            st.session_state["oa.scores"] = rows
        except LabError as e:
            show_error(e)
    left, right = st.columns([3, 2])
    if st.session_state.get("oa.scores"):
        df = pd.DataFrame(st.session_state["oa.scores"])
        left.dataframe(df, hide_index=True, width="stretch", key="oa.scoreboard")
        left.plotly_chart(px.bar(df, x="model", y="MAE $", height=280), width="stretch", key="oa.mae")
    right.info(CONCLUSION)


def render_openai_tab() -> None:
    st.caption(
        "Fine-tune a frontier model on the pricer as the course does: the data goes to OpenAI as chat "
        "JSONL, a job trains there, and the new model id is then used like any other."
    )
    t1, t2, t3, t4 = st.tabs(
        ["1 · Prepare", "2 · Validate before paying", "3 · Launch & follow", "4 · Use it"], key="oa.tabs"
    )
    with t1:
        _prepare_tab()
    with t2:
        _validate_tab()
    with t3:
        _launch_tab()
    with t4:
        _use_tab()
