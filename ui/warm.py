"""The app's warm-up steps: which labs' heavy objects load in the background, registered with the classroom layer.

``lab.classroom.warmup`` runs steps but knows no lab; this module names them, in the order they run, and Home.py
calls ``register_steps()`` before ``warmup.start``. Each step fills the same per-process cache its page reads
(``get_tokenizer``, the local model or llama-server, ``load_minilm``, ``get_index``), so the first student to
open a lab does not wait. The labs are imported inside the steps, in the warm-up thread: Home's first paint
imports no model library.

    >>> register_steps(); [name for name, _ in warmup.steps()]
    ['tokenizers', 'local model', 'MiniLM embedder', 'RAG indexes', 'RAG best mode']
"""

from __future__ import annotations

from lab.classroom import warmup


def tokenizers() -> None:
    from lab.tokenization.registry import BUILTIN, get_tokenizer

    for name in BUILTIN:  # the Tokenization page shows all of them side by side by default
        get_tokenizer(name)


def local_model() -> None:
    from lab.llm.local import warm_up

    warm_up()  # the managed llama-server when that is the engine, else the model in-process


def embedder() -> None:
    from lab.rag.embeddings import load_minilm, minilm_onnx

    load_minilm()
    minilm_onnx()  # exports the question path to ONNX once (~2 s), so the first student's question does not wait


def rag_indexes() -> None:
    from lab.rag.retrieval import get_index

    for kind in ("chroma", "faiss"):
        get_index(kind)


def rag_best() -> None:
    """The *best* mode's index (e5 when installed, its own chunking) and what its first question would otherwise
    build: MiniLM's vectors of the same chunks, one card per document, and every line of every chunk (~1 min cold on
    two cores, mostly e5; from the disk cache, seconds)."""
    from lab.rag.embeddings import get_embedder
    from lab.rag.modes import best_chunking, best_embedder_name
    from lab.rag.retrieval import get_index, search

    index = get_index("faiss", best_chunking(), get_embedder(best_embedder_name(), cache=True))
    search(index, "Which product records water use?", 5, "best")


STEPS = (
    ("tokenizers", tokenizers),
    ("local model", local_model),
    ("MiniLM embedder", embedder),
    ("RAG indexes", rag_indexes),
    ("RAG best mode", rag_best),
)


def register_steps() -> None:
    """Register the app's steps (idempotent: Home.py calls it on every page run, before ``warmup.start``)."""
    for name, step in STEPS:
        warmup.register(name, step)
