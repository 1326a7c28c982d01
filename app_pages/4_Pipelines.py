"""Pipelines lab: Hugging Face pipelines for classic NLP tasks, and image generation with diffusers.

Pick a task, run its model, read the raw output beside a friendly view, and see what loading it cost.
Offline, text generation / feature extraction / zero-shot run real shipped models; other tasks offer a tiny
untrained model that shows the machinery (its outputs are random, and labelled so).
"""

import streamlit as st

from lab.core.errors import LabError
from lab.pipelines import diffusion, footprints, resolve, running, tasks
from ui import pipelines as view
from ui.widgets import explained, model_widgets, show_error

st.title("🧪 Pipelines")
st.caption(
    "`pipeline(task, model=...)` in one line: tokenizer → model → post-processing. "
    "Then diffusion: noise turned into an image, one denoising step at a time."
)
mode = st.radio(
    "Lab", ["Text pipelines", "Image generation"], horizontal=True, key="pl_mode", label_visibility="collapsed"
)

if mode == "Text pipelines":
    task = st.selectbox("Task", list(tasks.TASKS), key="pl_task")
    spec = tasks.TASKS[task]
    st.caption(spec.about)
    tiny = st.checkbox("Tiny untrained model (random weights: works offline, outputs mean nothing)", key="pl_tiny")
    model = st.text_input(
        "Model (Hub id or local folder)",
        value=spec.default_model,
        key=f"pl_model_{task}",
        disabled=tiny,
        help="The course's choice by default; any compatible Hub id works.",
    )
    ok, where = resolve.describe(task, model, tiny=tiny)
    (st.caption if ok else st.warning)(where)
    text = st.text_area(
        "Question" if task == "question-answering" else "Input text", value=spec.example, key=f"pl_text_{task}"
    )
    context, labels = None, None
    if task == "question-answering":
        context = st.text_area(
            "Context (the answer is copied from here)",
            key="pl_context",
            value="Barack Obama was the 44th president of the United States.",
        )
    if task == "zero-shot-classification":
        labels = st.text_input(
            "Candidate labels (comma-separated)", ", ".join(tasks.DEFAULT_LABELS), key="pl_labels"
        ).split(",")
    with st.expander("Options"):
        opts = model_widgets(tasks.PipelineOptions, ["max_new_tokens", "top_k", "multi_label"], key="pl_")

    if st.button("Run", type="primary", key="pl_run", disabled=not ok):
        try:
            with st.spinner(f"Loading {model if not tiny else 'the tiny model'} and running {task}..."):
                st.session_state.pl_result = (
                    running.run(
                        task,
                        text,
                        model=model,
                        tiny=tiny,
                        context=context,
                        labels=labels,
                        options=tasks.PipelineOptions(**opts),
                    ),
                    text,
                    context,
                )
        except LabError as e:
            show_error(e)
            st.stop()
    saved = st.session_state.get("pl_result")
    if not saved or saved[0].task != task:
        st.stop()
    result, shown_text, shown_context = saved
    view.show_result(result, shown_text, shown_context)

    with st.expander("What loading this model cost", expanded=True):
        view.show_load_cost(result.load)
        st.markdown(
            "The course loads big models in **8-bit or 4-bit** with bitsandbytes to fit a GPU. "
            "On a GPU this loads the model again quantized and measures it; on a CPU it estimates."
        )
        if st.button("Compare 8-bit and 4-bit footprints", key="pl_quant"):
            with explained():
                view.show_quantized(
                    footprints.quantized_footprints(
                        task, None if result.source == "offline" else model, tiny=result.untrained
                    )
                )

else:
    prompt = st.text_area("Prompt", "a watercolour fox in the snow, soft light", key="df_prompt")
    negative = st.text_input(
        "Negative prompt",
        "",
        key="df_negative",
        help=diffusion.DiffusionOptions.model_fields["negative_prompt"].description,
    )
    tiny = st.checkbox("Tiny untrained model (random weights: the image is noise)", key="df_tiny")
    model = st.text_input(
        "Model (Hub id or local folder)",
        value=diffusion.default_model(),
        key="df_model",
        disabled=tiny,
        help="sd-turbo on CPU, sdxl-turbo on GPU: 1-4 steps, no guidance needed.",
    )
    ok, where = diffusion.describe(model, tiny=tiny)
    (st.caption if ok else st.warning)(where)
    cols = st.columns(3)
    values = model_widgets(diffusion.DiffusionOptions, ["steps", "guidance", "seed"], where=cols[0], key="df_")
    values |= model_widgets(diffusion.DiffusionOptions, ["width"], where=cols[1], key="df_")
    values |= model_widgets(diffusion.DiffusionOptions, ["height"], where=cols[2], key="df_")
    opts = view.validated(diffusion.DiffusionOptions, values | {"negative_prompt": negative})

    if not st.button("Generate", type="primary", key="df_run", disabled=not ok or opts is None):
        st.stop()
    bar = st.progress(0.0, text="Loading the pipeline...")
    try:
        image = diffusion.generate(
            prompt,
            opts,
            model=model,
            tiny=tiny,
            on_step=lambda i, n: bar.progress(i / n, text=f"Denoising step {i}/{n}"),
        )
    except LabError as e:
        show_error(e)
        st.stop()
    if image.untrained:
        st.warning(image.note, icon="🎲")
    st.image(
        image.image,
        caption=f"{image.model} · {image.steps_done} steps · {image.seconds:.1f} s on {image.device}"
        + (" · UNTRAINED: noise" if image.untrained else ""),
        width=min(512, max(256, image.image.size[0])),
    )
    st.download_button(
        "Download PNG",
        image.png,
        file_name="untrained-noise.png" if image.untrained else "image.png",
        mime="image/png",
        key="df_download",
    )
    st.caption(f"Loading took {image.load_s:.1f} s (once per session: the pipeline is cached).")
