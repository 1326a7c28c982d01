"""Hugging Face pipelines: one task name and a model id in, the model's answer out, with what loading cost.

The course runs classic NLP tasks in two lines each - ``pipeline("sentiment-analysis")("I love this!")`` - and
this module keeps that shape: a registry of tasks (each with the course's default Hub model, editable), one
loader that builds ``transformers.pipeline(task, model=...)`` once per (task, model, device) and caches it, and
``run()`` that calls it and reports where the model came from, how long loading took and how much memory it holds.

    tasks.py         the task registry (the course's default model per task), options, spec_of
    resolve.py       which model a task will load: a Hub id, a shipped offline stand-in, or a tiny untrained one
    loading.py       ``transformers.pipeline(...)`` built once per (task, model, device), with what loading cost
    running.py       run a task on a text; zero-shot by embeddings offline; JSON-safe outputs
    footprints.py    8-bit / 4-bit memory footprints (measured on a GPU, estimated on a CPU)
    tiny.py          tiny untrained models from configs, saved and reloaded like Hub models
    replacements.py  the QA and text2text pipelines transformers 5 removed, registered the documented way
    diffusion.py     image generation with diffusers (sd-turbo on CPU, sdxl-turbo on GPU), step by step
    cli.py           ``python -m lab pipeline ...`` and ``python -m lab diffuse ...``

Offline (no Hub: ``HF_HUB_OFFLINE=1`` or no network) a default model falls back to what ships with the lab:
text generation runs SmolLM2-135M (its transformers copy), feature extraction runs all-MiniLM-L6-v2, and
zero-shot classification ranks labels by cosine similarity between MiniLM embeddings of the text and of
"This text is about {label}." - real results, labelled with the model that made them. The other tasks say
the Hub is unreachable, name the model they would load, and offer ``tiny=True``: a model built from a
config with random weights, saved with ``save_pretrained`` and loaded through the same ``pipeline(...)``
call as a Hub id. It shows the machinery (tokenizer -> model -> post-processing); its outputs mean nothing,
and every result from it says so.

transformers 5 removed the ``question-answering``, ``summarization`` and ``translation_xx_to_yy`` pipelines
(its migration guide suggests a chat model through ``text-generation``). The course's small task models
(DistilBERT-SQuAD, DistilBART-CNN, T5, Marian) still work well on a CPU, so two small pipeline classes are
registered with transformers' own ``PIPELINE_REGISTRY`` (its documented way to add a pipeline) and
``pipeline("lab-text2text" | "lab-question-answering", model=...)`` loads them like any other.
"""
