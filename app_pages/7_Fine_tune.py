"""Fine-tune: LoRA / QLoRA with SFT on the pricer's data - configure, plan memory, see the loss mask, train, evaluate.

Training runs in a background process that writes into a run folder of this browser session, so this page only
reads files: every rerun shows the same live run. Classmates never see it, only that a run trains (step x of y).
"""

import streamlit as st

import ui.finetune as ft
from lab.finetune import modal_app, runner
from lab.finetune.evaluate import evaluate
from ui.finetune_openai import render_openai_tab
from ui.widgets import explained

st.title("🎛️ Fine-tune")
st.caption(
    "Teach SmolLM2-135M to write a product's price, with LoRA: only small adapter matrices train while the "
    "base model stays frozen (QLoRA: frozen in 4 bits). On CPU it really trains, slowly; the course's GPU "
    "settings run on Modal."
)

track = st.radio(
    "Track",
    ["LoRA / QLoRA (local or Modal)", "OpenAI (frontier)"],
    horizontal=True,
    key="ft.track",
    label_visibility="collapsed",
)
if track.startswith("OpenAI"):
    render_openai_tab()  # the course's frontier fine-tune: prepare, validate, launch, follow, score
    st.stop()

cfg = ft.config_form()
if cfg is None:
    st.stop()
cfg_yaml = cfg.to_yaml()
c1, c2 = st.columns([1, 3])
c1.download_button("Save config YAML", cfg_yaml, file_name="finetune.yaml", mime="text/yaml")
c2.code("python -m lab finetune run --config finetune.yaml --json   # the same run from a shell", language="bash")

tab_plan, tab_data, tab_train, tab_eval, tab_modal = st.tabs(
    ["Memory plan", "Data & loss mask", "Train", "Evaluate", "Modal (GPU)"], key="ft.tabs"
)

with tab_plan:
    st.caption("Before launching: what the run will hold in memory, pile by pile, and whether it fits here.")
    if st.button("Plan memory", key="plan"):
        with explained():
            ft.show_plan(ft.cached_plan(cfg_yaml))

with tab_data:
    st.caption("The prompt/completion pairs as the trainer tokenizes them; only the completion (the price) is learned.")
    if st.button("Show data", key="data"):
        with explained():
            ft.show_data(ft.data_view(cfg_yaml))

root = ft.runs_root()  # this session's runs: the only ones launched, listed and controlled here
with tab_train:
    active, other = ft.live_runs(root)
    c1, c2, c3 = st.columns(3)
    if c1.button("Launch", type="primary", disabled=bool(active or other), key="launch"):
        with explained():
            st.session_state["ft.run"] = runner.launch(cfg, root=root).name
            active, other = ft.live_runs(root)
    if active:
        st.session_state["ft.run"] = active["run_id"]
        if c2.button("Stop", key="stop"):
            runner.stop(active["run_dir"])
            st.toast("Stop requested: the run saves a checkpoint at the next step, then exits.")
    past = [r["run_id"] for r in runner.list_runs(root)]
    picked = st.session_state.get("ft.run")
    current = root / (picked if picked in past else past[0]) if past else None
    if current and not active:
        st_ = runner.status(current)
        if st_["state"] in ("stopped", "interrupted") and st_["checkpoint"] and c3.button("Resume", key="resume"):
            with explained():
                runner.resume(current)

    ft.live_view(current, root, mine=bool(active), other=bool(other))
    st.subheader("Your runs")
    ft.runs_table(root)
    if current:
        with st.expander("Run it yourself (the exact commands)"):
            st.code(" ".join(runner.command(current)), language="bash")
            st.code(f"python -m lab finetune run --config {current / 'config.yaml'}", language="bash")

with tab_eval:
    runs = [r["run_id"] for r in runner.list_runs(root) if r["state"] in ("finished", "stopped", "interrupted")]
    if not runs:
        st.info("Train a run first; its adapter is then scored here beside the base model.")
    else:
        run_id = st.selectbox("Run", runs, key="eval.run")
        n = st.number_input("Test items", 1, 200, 20, key="eval.n", help="Items from the pricer's test split.")
        if st.button("Evaluate", key="evaluate"):
            with explained(), st.spinner("Generating prices with and without the adapter..."):
                ft.scoreboard(evaluate(root / run_id, n=int(n)))

with tab_modal:
    gpu = st.selectbox(
        "GPU", modal_app.GPUS, index=1, help="L4: 24 GB, bf16, cheap. The course's full run used an A100."
    )
    secrets = st.text_input(
        "Modal secrets (names, comma separated)",
        ", ".join(modal_app.default_secrets(cfg)),
        help="Secrets are referenced by name only; create them in the Modal dashboard "
        "(e.g. huggingface-secret holding HF_TOKEN for gated Llama models).",
    )
    names = [s.strip() for s in secrets.split(",") if s.strip()]
    st.code(modal_app.source(cfg, gpu=gpu, secrets=names), language="python")
    if not modal_app.token_configured():
        st.info(modal_app.HOW_TO_TOKEN)
    if st.button("Export run folder + Modal app", key="export"):
        with explained():
            script = modal_app.export(cfg, gpu=gpu, secrets=names, root=root)
            st.success(f"Wrote {script}. Run: `{' '.join(modal_app.modal_command(script))}`")
            if modal_app.token_configured():
                modal_app.launch(script)
                st.success(f"modal run started; log in {script.parent / 'modal.log'}")
