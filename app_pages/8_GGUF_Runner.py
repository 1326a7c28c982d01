"""GGUF Runner lab: pick a GGUF, read its header, run it with llama.cpp on CPU/GPU, watch the generation steps,
benchmark it, serve it OpenAI-compatibly. Logic lives in lab.gguf; widgets and renderers in ui.gguf."""

import streamlit as st

from lab.gguf import bench, fit, runtime, steps
from lab.gguf.inspect import read_gguf
from lab.llm import DEFAULT_SYSTEM
from ui import gguf as U
from ui.gguf_ladder import render_ladder_section
from ui.widgets import Streamer

st.title("⚙️ GGUF Runner")
path = U.pick_model()
if path is None:
    st.stop()
info = None
with U.explained():
    with st.spinner("Reading the header..."):
        info = read_gguf(path)
if info is None:
    st.stop()
gpu = runtime.gpu_backend()
settings = U.load_settings(gpu, info.facts["layers"] or 0)
est = fit.estimate(info, settings.n_ctx, n_batch=settings.n_batch, n_gpu_layers=settings.n_gpu_layers)
st.caption(
    f"**{path.name}** · memory: {est.line()} · {'✅ fits' if est.fits else '❌ does not fit'} · "
    f"{'GPU backend available' if gpu.available else 'CPU-only llama.cpp build'}"
)
tabs = st.tabs(["Inspect", "Chat", "Steps", "Benchmark", "Serve", "Quantization ladder"], key="gguf.tabs")


def model():
    """The shared llama.cpp model for these settings (built once; memory and GPU checks first)."""
    with st.spinner(f"Loading {path.name} with llama.cpp..."):
        return runtime.load(settings, path)


with tabs[0]:
    U.show_inspection(info)

with tabs[1]:
    st.caption("Temperature 0 (greedy) gives a 135M model its best answers; raise it to see sampling at work.")
    params, chat_format = U.sampling()
    history = st.session_state.setdefault("gguf.history", [])
    system = st.text_input(
        "System prompt",
        DEFAULT_SYSTEM,
        key="gguf.system",
        help="A 135M model needs a short, plain system prompt to stay on topic.",
    )
    for m in history:
        st.chat_message(m["role"]).markdown(m["content"])
    said = st.text_input("Your message", "What is the capital of France?", key="gguf.user")
    c1, c2 = st.columns(2)
    if c2.button("Clear chat", key="gguf.clear"):
        history.clear()
        st.rerun()
    if c1.button("Send", type="primary", key="gguf.send"):
        msgs = (
            ([{"role": "system", "content": system}] if system else []) + history + [{"role": "user", "content": said}]
        )
        st.chat_message("user").markdown(said)
        with U.explained():
            out = Streamer(st.chat_message("assistant"))
            reply = runtime.run_chat(model(), msgs, params, chat_format, on_text=out)
            out.done(reply.text)
            history += [{"role": "user", "content": said}, {"role": "assistant", "content": reply.text}]
            U.show_metrics(reply.usage)

with tabs[2]:
    st.caption("What create_chat_completion does in a loop, opened up: tokenize → forward pass → sample → detokenize.")
    prompt = st.text_input("Prompt", "What is the capital of France?", key="gguf.steps.prompt")
    c1, c2, c3 = st.columns(3)
    n_steps = c1.slider("Steps", 1, 32, 8, key="gguf.steps.n")
    top = c2.slider("Candidates shown", 2, 10, 5, key="gguf.steps.top")
    temp = c3.slider("Temperature (0 = greedy)", 0.0, 2.0, 0.0, 0.1, key="gguf.steps.t")
    if st.button("Run the steps", type="primary", key="gguf.steps.go"):
        with U.explained():
            U.show_steps(steps.run_steps(model(), prompt, n_steps=n_steps, top=top, temperature=temp))

with tabs[3]:
    st.caption(
        "pp = prompt processing (tokens evaluated together, matrix-matrix: fast); tg = text generation "
        "(one token at a time, bound by memory bandwidth: slow). Median of the runs."
    )
    c1, c2, c3 = st.columns(3)
    n_prompt = c1.slider("Prompt tokens", 16, 512, 128, 16, key="gguf.b.np")
    n_gen = c2.slider("Generated tokens", 4, 128, 32, 4, key="gguf.b.ng")
    repeats = c3.slider("Runs", 1, 5, 3, key="gguf.b.r")
    if st.button("Benchmark", type="primary", key="gguf.b.go"):
        with U.explained(), st.spinner("Measuring..."):
            U.show_bench(bench.bench(model(), n_prompt=n_prompt, n_gen=n_gen, repeats=repeats))
    if gpu.available and st.button("n_gpu_layers sweep", key="gguf.b.sweep"):
        n = (info.facts["layers"] or 0) + 1
        with U.explained(), st.spinner("Sweeping..."):
            U.show_sweep(
                bench.sweep(
                    path,
                    sorted({0, n // 4, n // 2, 3 * n // 4, n}),
                    n_ctx=settings.n_ctx,
                    n_threads=settings.n_threads,
                    n_prompt=n_prompt,
                    n_gen=n_gen,
                    repeats=repeats,
                )
            )

with tabs[4]:
    st.caption(
        "llama-cpp-python's own server, in a child process on this machine (loopback only). Other labs "
        "reach it with the provider **openai-compatible** and the base URL below."
    )
    U.serve_section(path, settings)  # this session's servers only; at most LAB_MAX_SERVERS on the machine

with tabs[5]:
    render_ladder_section()  # convert -> quantize -> measure every rung (issue 13)
