"""Tiny *untrained* models built from configs, so every task's machinery runs offline (outputs mean nothing).

A config with 2 layers and a hidden size of 32 is enough to build the real architecture with random weights,
``save_pretrained`` it, and load it through the same ``pipeline(task, model=folder)`` call as a Hub id: the
tokenizer -> model -> post-processing path is real; every result from it is labelled untrained.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lab.core import assets
from lab.core.errors import LabError
from lab.core.settings import get_settings
from lab.pipelines.tasks import spec_of

NER_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # CoNLL-2003's
_TINY_LOCK = threading.Lock()


def tiny_model_dir(task: str) -> Path:
    return get_settings().data_dir / "tiny-models" / spec_of(task).name


def tiny_config(task: str, vocab_size: int, pad_id: int, eos_id: int):
    """A config of the same family as the task's real model, shrunk to ~1M parameters (most in the embeddings)."""
    from transformers import BertConfig, LlamaConfig, T5Config

    bert = dict(
        vocab_size=vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        pad_token_id=pad_id,
    )

    def labels(names):
        return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}

    if task == "sentiment-analysis":
        return BertConfig(**bert, **labels(["NEGATIVE", "POSITIVE"])), "AutoModelForSequenceClassification"
    if task == "zero-shot-classification":  # an NLI head: the pipeline looks for the label named "entailment"
        return (
            BertConfig(**bert, **labels(["contradiction", "neutral", "entailment"])),
            "AutoModelForSequenceClassification",
        )
    if task == "ner":
        return BertConfig(**bert, **labels(NER_LABELS)), "AutoModelForTokenClassification"
    if task == "question-answering":
        return BertConfig(**bert), "AutoModelForQuestionAnswering"
    if task == "fill-mask":
        return BertConfig(**bert), "AutoModelForMaskedLM"
    if task == "feature-extraction":
        return BertConfig(**bert), "AutoModel"
    if task == "text-generation":  # the architecture of SmolLM2 and Llama, at 1/100 000 of the size
        return (
            LlamaConfig(
                vocab_size=vocab_size,
                hidden_size=32,
                intermediate_size=64,
                num_hidden_layers=2,
                num_attention_heads=2,
                num_key_value_heads=1,
                pad_token_id=pad_id,
                eos_token_id=eos_id,
                bos_token_id=eos_id,
            ),
            "AutoModelForCausalLM",
        )
    # summarization / translation: T5, which reads the task from a text prefix kept in its config
    prefixes = {
        "summarization": {"prefix": "summarize: "},
        "translation_en_to_fr": {"prefix": "translate English to French: "},
        "translation_en_to_es": {"prefix": "translate English to Spanish: "},
    }
    return (
        T5Config(
            vocab_size=vocab_size,
            d_model=32,
            d_kv=16,
            d_ff=64,
            num_layers=2,
            num_heads=2,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
            decoder_start_token_id=pad_id,
            task_specific_params=prefixes,
        ),
        "AutoModelForSeq2SeqLM",
    )


def build_tiny(task: str, folder: Path | None = None) -> Path:
    """Save a tiny random model for ``task`` (config -> model -> ``save_pretrained``), with MiniLM's tokenizer.

    Afterwards ``pipeline(task, model=str(folder))`` loads it exactly as it would load a Hub id.
    """
    folder = Path(folder or tiny_model_dir(task))
    with _TINY_LOCK:
        if (folder / ".complete").exists():
            return folder
        minilm = assets.minilm_dir()
        if minilm is None:
            raise LabError("The tiny models borrow MiniLM's tokenizer, which is missing; " + assets.fix_for("minilm"))
        import torch
        import transformers
        from transformers import AutoTokenizer

        tok = AutoTokenizer.from_pretrained(str(minilm))
        config, auto_name = tiny_config(spec_of(task).name, len(tok), tok.pad_token_id, tok.sep_token_id)
        torch.manual_seed(0)  # the same random model every time: outputs are noise, but reproducible noise
        net = getattr(transformers, auto_name).from_config(config)
        folder.mkdir(parents=True, exist_ok=True)
        net.save_pretrained(folder)
        tok.save_pretrained(folder)
        (folder / "README.md").write_text(f"Tiny UNTRAINED {task} model (random weights) made by lab.pipelines.\n")
        (folder / ".complete").touch()
        return folder
