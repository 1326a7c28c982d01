"""Streamlit pieces of the Fine-tune page: the config form, cached plan/data loaders, and renderers.

The form is built from ``RunConfig``'s fields: each widget's help is the field's description, its bounds the
field's bounds, so the teaching text and the validation live once, in ``lab.finetune.config``.

Runs launched here live in the browser session's own folder (``runs_root()``): the page lists, follows and controls
only those. One run trains at a time on the machine; while a classmate's trains, a student sees its progress
(step x of y) and nothing else of it.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from pydantic import ValidationError

from lab.core.errors import LabError
from lab.finetune import runner
from lab.finetune.config import ATTENTION_LAYERS, MLP_LAYERS, PRESETS, RunConfig
from lab.finetune.plan import human
from ui.session import session_dir
from ui.widgets import explained, field_widget

GROUPS = {
    "Model": ["base_model", "quantization", "dtype"],
    "LoRA": ["lora_r", "lora_alpha", "lora_dropout", "target_modules"],
    "Data": ["train_size", "val_size", "max_seq_length"],
    "Schedule": [
        "epochs",
        "max_steps",
        "batch_size",
        "grad_accum",
        "learning_rate",
        "lr_scheduler",
        "warmup_ratio",
        "optimizer",
        "weight_decay",
        "max_grad_norm",
        "gradient_checkpointing",
    ],
    "Logging": ["logging_steps", "save_steps", "eval_steps", "seed"],
}
LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3]


@st.cache_data(show_spinner="Reading the model's layers...")
def target_choices(base_model: str) -> list[str]:
    from lab.finetune.plan import target_choices as choices

    try:
        return choices(base_model)
    except LabError:
        return ATTENTION_LAYERS + MLP_LAYERS


@st.cache_data(show_spinner="Working out the memory plan (peft on a weightless copy of the model)...")
def cached_plan(cfg_yaml: str) -> dict:
    from lab.finetune.plan import plan

    p = plan(RunConfig.from_yaml_text(cfg_yaml))
    return p.to_dict() | {"rows": p.rows()}


def _widget(name: str, value, where, key: str):
    """The form's widget for one RunConfig field: the two that need a domain's choices here, every other one from
    the shared builder (``ui.widgets.field_widget``: help = description, limits = bounds; numbers as inputs)."""
    f = RunConfig.model_fields[name]
    label, help_, wkey = name.replace("_", " "), f.description, f"ft.{key}.{name}"
    if name == "target_modules":
        options = target_choices(st.session_state.get(f"ft.{key}.base_model", RunConfig().base_model))
        return where.multiselect(label, sorted(set(options) | set(value)), default=value, help=help_, key=wkey)
    if name == "learning_rate":
        options = sorted(set(LEARNING_RATES) | {value})
        return where.select_slider(label, options, value=value, format_func=lambda v: f"{v:.0e}", help=help_, key=wkey)
    return field_widget(RunConfig, name, value, where=where, key=wkey, float_slider=False)


def uploaded_config(data: bytes) -> RunConfig:
    """An uploaded run config: its bytes are YAML content only, never a path on the server (see
    ``RunConfig.from_yaml_text``); errors name the field and the rule, not the values."""
    return RunConfig.from_yaml_text(data, source="the uploaded YAML")


def config_form(where=st) -> RunConfig | None:
    """The whole form; returns a validated RunConfig, or None after showing what is wrong and how to fix it."""
    c1, c2 = where.columns([1, 2])
    labels = {"defaults": "defaults (CPU, SmolLM2)", "lite": "course lite (GPU)", "full": "course full (GPU)"}
    preset = c1.selectbox(
        "Start from",
        list(labels),
        format_func=labels.get,
        key="ft.preset",
        help="lite / full: the course's week-7 QLoRA settings (GPU-sized: paged AdamW, 4-bit).",
    )
    uploaded = c2.file_uploader(
        "or load a config YAML",
        type=["yaml", "yml"],
        key="ft.upload",
        help="Its content is read as YAML field: value lines (never as a file name).",
    )
    base = None
    if uploaded:
        with explained(where):  # an InputError naming the field and the rule, never a value nor a traceback
            base = uploaded_config(uploaded.getvalue())
    elif preset in PRESETS:
        base = RunConfig.preset(preset)
    base = base or RunConfig()
    key = preset + (f"-{uploaded.file_id}" if uploaded else "")  # a new preset/upload resets the widgets
    values = {}
    for group, names in GROUPS.items():
        with where.expander(group, expanded=group in ("Model", "LoRA")):
            cols = st.columns(3)
            for i, name in enumerate(names):
                values[name] = _widget(name, getattr(base, name), cols[i % 3], key)
    try:
        return RunConfig(**values)
    except ValidationError as e:
        for err in e.errors():
            where.error(f"**{'.'.join(map(str, err['loc'])) or 'config'}**: {err['msg'].removeprefix('Value error, ')}")
        return None


# ---------------------------------------------------------------------------------------------- renderers
def show_plan(p: dict, where=st) -> None:
    cols = where.columns(4)
    cols[0].metric(
        "Trainable parameters", f"{p['trainable_params']:,}", f"{p['trainable_share']:.3%} of all", delta_color="off"
    )
    cols[1].metric("All parameters", f"{p['total_params']:,}")
    cols[2].metric("Estimated peak", human(p["estimated_peak_bytes"]))
    cols[3].metric(
        f"Available ({p['device']})",
        human(p["device_bytes"]),
        "fits" if p["fits"] else "does NOT fit",
        delta_color="normal" if p["fits"] else "inverse",
    )
    df = pd.DataFrame(p["rows"]).assign(size=lambda d: d["bytes"].map(human))
    fig = go.Figure(go.Bar(x=df["bytes"] / 2**20, y=df["part"], orientation="h", text=df["size"]))
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="MiB")
    where.plotly_chart(fig, width="stretch")
    for note in p["notes"]:
        (where.error if "NOT fit" in note else where.caption)(note)


def mask_html(tokens) -> str:
    """Tokens as chips: green = learned (the price), grey = prompt (masked), struck through = cut by max length."""
    chips = []
    for t in tokens:
        style = "background:#c8f7c5;font-weight:600" if t.learned else "background:#eee;color:#666"
        if not t.kept:
            style += ";text-decoration:line-through;opacity:.5"
        chips.append(
            f'<span style="{style};padding:1px 3px;margin:1px;border-radius:3px;display:inline-block;'
            f'font-family:monospace">{html.escape(t.text).replace(chr(10), "↵")}</span>'
        )
    return "".join(chips)


def loss_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure()
    for key, name in (("loss", "training loss"), ("eval_loss", "eval loss")):
        pts = [(r["step"], r[key]) for r in rows if key in r]
        if pts:
            fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name))
    fig.update_layout(height=320, margin=dict(l=0, r=0, t=10, b=0), xaxis_title="step", yaxis_title="loss")
    return fig


def runs_root() -> Path:
    """This session's runs folder: the only runs the page launches, lists and controls."""
    return session_dir("runs")


def live_runs(root: Path) -> tuple[dict | None, dict | None]:
    """(this session's training run, another session's training run): at most one is set, one run trains at a time."""
    active = runner.active_run()
    if active is None:
        return None, None
    return (active, None) if runner.in_root(active, root) else (None, active)


def live_view(current: Path | None, root: Path, mine: bool, other: bool) -> None:
    """The current run's live view, refreshed every 2 s while it trains; while a classmate's run trains, its progress
    only, every 10 s (30 students polling every run folder every 2 s would load the machine for nothing)."""
    polling = mine or other

    @st.fragment(run_every=2.0 if mine else 10.0 if other else None)
    def live():
        mine_now, other_now = live_runs(root)
        if other_now:
            st.info(runner.busy_message(other_now))
        if current:
            st.markdown(f"**Run `{current.name}`**")
            show_run(current)
        if polling and not (mine_now or other_now):
            st.rerun(scope="app")  # the run just ended: refresh the buttons and the past-runs table

    live()


def show_run(run: str | Path, where=st) -> None:
    """Status, speed, ETA and the loss curve of one run (read from its folder)."""
    st_ = runner.status(run)
    rows = runner.progress(run)
    run_id = Path(run).name
    last = next((r for r in reversed(rows) if r.get("steps_per_s")), {})
    cols = where.columns(5)
    cols[0].metric("State", st_["state"])
    cols[1].metric("Step", f"{st_.get('step') or 0} / {st_.get('max_steps') or '?'}")
    cols[2].metric("Steps/s", f"{last['steps_per_s']:.3g}" if last else "-")
    cols[3].metric("ETA", f"{last['eta_s']:.0f} s" if last.get("eta_s") is not None else "-")
    planned = None
    if st_.get("peak_bytes") and st_["state"] in ("finished", "stopped"):
        try:  # the plan made before launch, beside what was measured
            planned = cached_plan((runner.run_path(run) / "config.yaml").read_text())["estimated_peak_bytes"]
        except LabError:
            pass
    cols[4].metric(
        "Peak memory (measured)",
        human(st_["peak_bytes"]) if st_.get("peak_bytes") else "-",
        f"plan: {human(planned)}" if planned else None,
        delta_color="off",
    )
    if rows:
        where.plotly_chart(loss_figure(rows), width="stretch", key=f"loss-{run_id}-{len(rows)}")
    if st_.get("error"):
        where.error(st_["error"])
    if st_["state"] == "interrupted":
        where.warning(
            "The training process ended without saying so (killed?). Its checkpoints and logs remain: "
            "Resume continues from the last checkpoint."
        )


def runs_table(root: Path, where=st) -> pd.DataFrame:
    df = pd.DataFrame(runner.list_runs(root))
    if not df.empty:
        df["peak"] = df["peak_bytes"].map(lambda b: human(b) if b == b and b else "-")
        where.dataframe(df.drop(columns=["peak_bytes", "started"]), hide_index=True, width="stretch")
    else:
        where.caption("No runs yet.")
    return df


def scoreboard(r: dict, where=st) -> None:
    rows = [
        {
            "model": f"{name}",
            "MAE $": r[name]["mae"],
            "RMSLE": r[name]["rmsle"],
            "hit rate": r[name]["hit_rate"],
            "no number": r[name]["misses"],
        }
        for name in ("base", "adapter")
    ]
    where.dataframe(pd.DataFrame(rows), hide_index=True)
    where.dataframe(pd.DataFrame(r["rows"]), hide_index=True, width="stretch")


@st.cache_data(show_spinner="Loading the pricer's items and tokenizing them as the trainer will...")
def data_view(cfg_yaml: str, n_examples: int = 3) -> dict:
    from lab.finetune import data

    cfg = RunConfig.from_yaml_text(cfg_yaml)
    train, val = data.load_pairs(cfg)
    tok = data.tokenizer_for(cfg)
    report = data.length_report(tok, train, cfg.max_seq_length)
    return {
        "report": report.to_dict(),
        "n_val": len(val),
        "examples": train[:n_examples],
        "masks": [data.masked_tokens(tok, p, cfg.max_seq_length) for p in train[:n_examples]],
    }


def show_data(view: dict, where=st) -> None:
    rep = view["report"]
    cols = where.columns(4)
    cols[0].metric("Training items", rep["n"])
    cols[1].metric("Validation items", view["n_val"])
    cols[2].metric("Longest prompt", f"{rep['longest_prompt']} tok")
    cols[3].metric(
        "Cut by max length", rep["n_cut"], delta=None if not rep["n_cut"] else "prices lost", delta_color="inverse"
    )
    fig = go.Figure(go.Histogram(x=rep["total_tokens"], nbinsx=30, name="prompt + price"))
    fig.add_vline(x=rep["max_length"], line_dash="dash", annotation_text="max_seq_length")
    fig.update_layout(height=240, margin=dict(l=0, r=0, t=20, b=0), xaxis_title="tokens per training sequence")
    where.plotly_chart(fig, width="stretch")
    where.caption(
        "The loss mask, token by token: grey = prompt (masked, label -100), green = learned (the price "
        "and the end-of-sequence token), struck through = beyond max_seq_length."
    )
    for ex, toks in zip(view["examples"], view["masks"]):
        where.markdown(mask_html(toks), unsafe_allow_html=True)
        where.caption(
            f"{sum(t.learned and t.kept for t in toks)} of {len(toks)} tokens learned · true price ${ex['completion']}"
        )
