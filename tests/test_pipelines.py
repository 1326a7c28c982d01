"""Pipelines lab: each task's wiring on tiny models saved to a folder, the real offline models, helpers, CLI.

Tiny models are built from configs, saved with ``save_pretrained`` and loaded by the same
``pipeline(task, model=folder)`` call a Hub id goes through; their outputs are random, so these tests check
shapes, types and the wiring (prefixes, masks, spans, labels), never the "answer".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lab.core import assets, hub
from lab.core.device import device
from lab.core.errors import InputError
from lab.pipelines import footprints, loading, resolve, running, tasks, tiny

ROOT = Path(__file__).resolve().parent.parent
CONTEXT = "Barack Obama was the 44th president of the United States. He was born in Hawaii."
needs_minilm = pytest.mark.skipif(assets.minilm_dir() is None, reason="MiniLM asset missing")
needs_smollm2 = pytest.mark.skipif(assets.smollm2_gguf() is None, reason="SmolLM2 GGUF asset missing")


@pytest.fixture(scope="module")
def tiny_dirs(lab_data):
    return {task: tiny.build_tiny(task, lab_data / "saved" / task) for task in tasks.TASKS}


def test_registry_has_the_course_tasks_with_hub_defaults():
    assert set(tasks.TASKS) == {
        "sentiment-analysis",
        "ner",
        "question-answering",
        "summarization",
        "translation_en_to_fr",
        "translation_en_to_es",
        "zero-shot-classification",
        "text-generation",
        "feature-extraction",
        "fill-mask",
    }
    for spec in tasks.TASKS.values():
        assert spec.default_model.count("/") == 1 and spec.example
    assert tasks.TASKS["ner"].kwargs["aggregation_strategy"] == "simple"
    assert tasks.TASKS["translation_en_to_es"].default_model == "Helsinki-NLP/opus-mt-en-es"


def test_offline_is_detected_without_network():
    assert os.environ["HF_HUB_OFFLINE"] == "1"
    assert hub.hub_reachable() is False


def test_task_without_a_shipped_model_says_hub_unreachable_and_names_the_model():
    with pytest.raises(tasks.HubUnreachable) as e:
        resolve.resolve("ner")
    assert "dbmdz/bert-large-cased-finetuned-conll03-english" in str(e.value) and "--tiny" in str(e.value)
    ok, line = resolve.describe("summarization")
    assert not ok and "sshleifer/distilbart-cnn-12-6" in line


@needs_smollm2
def test_only_the_default_model_falls_back_offline():
    assert resolve.describe("text-generation")[0]
    assert resolve.resolve("zero-shot-classification").source == "offline"
    with pytest.raises(tasks.HubUnreachable, match="someone/some-model"):
        resolve.resolve("text-generation", "someone/some-model")


def test_bad_input_is_explained():
    with pytest.raises(InputError, match="Unknown task"):
        running.run("translation_en_to_de", "hi", tiny=True)
    with pytest.raises(InputError, match="Type some text"):
        running.run("ner", "  ", tiny=True)
    with pytest.raises(InputError, match="context"):
        running.run("question-answering", "Who?", tiny=True)


@pytest.mark.slow  # imports torch
def test_device_follows_cuda():
    import torch

    mps = torch.backends.mps.is_available()
    assert device() == ("cuda" if torch.cuda.is_available() else "mps" if mps else "cpu")


# ------------------------------------------------------------------------------------ tiny wiring, every task
def _run(task, tiny_dirs, text=None, **kw):
    r = running.run(task, text or tasks.TASKS[task].example, model=str(tiny_dirs[task]), **kw)
    assert (
        r.source == "local"
        and r.load.device.startswith(device())
        and r.load.params > 0
        and r.load.footprint_bytes >= 4 * r.load.params * 0.99
    )
    json.dumps(r.to_dict())  # every output is JSON-safe
    return r


@needs_minilm
@pytest.mark.slow  # the tiny_dirs fixture: a tiny transformers model per task
def test_tiny_classification_tasks(tiny_dirs):
    out = _run("sentiment-analysis", tiny_dirs).output
    assert len(out) == 1 and out[0]["label"] in {"NEGATIVE", "POSITIVE"} and 0.5 <= out[0]["score"] <= 1
    out = _run("zero-shot-classification", tiny_dirs, labels=["sports", "politics", "cooking"]).output
    assert sorted(out["labels"]) == ["cooking", "politics", "sports"]
    assert sum(out["scores"]) == pytest.approx(1.0, abs=1e-4) and out["scores"] == sorted(out["scores"], reverse=True)


@needs_minilm
@pytest.mark.slow  # transformers pipelines on tiny models
def test_tiny_ner_groups_entities_with_offsets(tiny_dirs):
    text = "Barack Obama visited Paris with Michelle."
    out = _run("ner", tiny_dirs, text).output
    assert out, "aggregation 'simple' always yields at least one group on a random model"
    for e in out:  # grouped: entity_group (not per-token 'entity'), offsets into the original text
        assert e["entity_group"] in {"PER", "ORG", "LOC", "MISC"}
        assert text[e["start"] : e["end"]].lower() == e["word"]


@needs_minilm
@pytest.mark.slow  # transformers pipelines on tiny models
def test_tiny_question_answering_copies_a_span_of_the_context(tiny_dirs):
    out = _run("question-answering", tiny_dirs, "Who was president?", context=CONTEXT).output
    assert out["answer"] and out["answer"] == CONTEXT[out["start"] : out["end"]]
    assert 0 < out["score"] <= 1


@needs_minilm
@pytest.mark.slow  # transformers pipelines on tiny models
def test_tiny_seq2seq_tasks_use_their_prefix_and_key(tiny_dirs):
    out = _run("summarization", tiny_dirs, options=tasks.PipelineOptions(max_new_tokens=5)).output
    assert list(out[0]) == ["summary_text"] and isinstance(out[0]["summary_text"], str)
    out = _run("translation_en_to_fr", tiny_dirs, "Hello world", options=tasks.PipelineOptions(max_new_tokens=5)).output
    assert list(out[0]) == ["translation_text"]
    loaded, _ = loading.load("translation_en_to_fr", str(tiny_dirs["translation_en_to_fr"]))
    ids = loaded.pipe.preprocess("Hello world", task_key="translation_en_to_fr")["input_ids"][0]
    assert loaded.pipe.tokenizer.decode(ids, skip_special_tokens=True) == "translate english to french : hello world"


@needs_minilm
@pytest.mark.slow  # transformers pipelines on tiny models
def test_tiny_generation_features_and_fill_mask(tiny_dirs):
    out = _run("text-generation", tiny_dirs, "Once upon a time", options=tasks.PipelineOptions(max_new_tokens=4)).output
    assert out[0]["generated_text"].startswith("Once upon a time") and len(out[0]["generated_text"]) > 16
    out = _run("feature-extraction", tiny_dirs, "Embeddings turn text into vectors.").output
    assert len(out) == 1 and len(out[0][0]) == 32  # tiny hidden size; one vector per token, [CLS]..[SEP]
    assert len(out[0]) == len(
        loading.load("feature-extraction", str(tiny_dirs["feature-extraction"]))[0].pipe.tokenizer(
            "Embeddings turn text into vectors."
        )["input_ids"]
    )
    out = _run(
        "fill-mask", tiny_dirs, "The capital of France is <mask>.", options=tasks.PipelineOptions(top_k=3)
    ).output
    assert len(out) == 3 and all(o["token_str"].strip() in o["sequence"] for o in out)
    with pytest.raises(InputError, match=r"\[MASK\]"):
        _run("fill-mask", tiny_dirs, "No mask here.")
    assert len(loading._CACHE) <= loading.MAX_CACHED  # a shared deployment does not keep every model


@needs_minilm
@pytest.mark.slow  # builds and runs a tiny transformers model
def test_tiny_mode_is_labelled_untrained(lab_data):
    r = running.run("sentiment-analysis", "I love it", tiny=True)
    assert r.untrained and r.source == "tiny" and "UNTRAINED" in r.note
    assert Path(r.load.location).parent == lab_data / "tiny-models"


# ------------------------------------------------------------------------------------ real offline models
@pytest.mark.slow
@needs_minilm
def test_feature_extraction_and_zero_shot_on_real_minilm(lab_data):
    r = running.run("feature-extraction", "Embeddings turn text into vectors.")
    assert r.source == "offline" and "MiniLM" in r.model and len(r.output[0][0]) == 384
    assert r.load.params == pytest.approx(22.7e6, rel=0.01)
    sports = running.run(
        "zero-shot-classification",
        "The striker scored twice and the team won the match.",
        labels=["sports", "politics", "cooking"],
    )
    assert sports.output["labels"][0] == "sports" and "cosine" in sports.output["method"]
    food = running.run(
        "zero-shot-classification",
        "Whisk the eggs, add flour and bake for twenty minutes.",
        labels=["sports", "politics", "cooking"],
    )
    assert food.output["labels"][0] == "cooking"


@pytest.mark.slow
@needs_smollm2
def test_text_generation_on_real_smollm2(lab_data):
    r = running.run(
        "text-generation", "What is the capital of France?", options=tasks.PipelineOptions(max_new_tokens=12)
    )
    assert r.source == "offline" and "SmolLM2" in r.model and not r.untrained
    reply = r.output[0]["generated_text"][-1]
    assert reply["role"] == "assistant" and "Paris" in reply["content"]
    assert r.load.params == pytest.approx(134.5e6, rel=0.01)


# ------------------------------------------------------------------------------------ footprints
@pytest.mark.slow
@needs_minilm
def test_quantized_estimate_matches_bitsandbytes(tiny_dirs):
    """bitsandbytes also loads on CPU here: the estimate must agree with what it really allocates."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    d = str(tiny_dirs["text-generation"])
    full = AutoModelForCausalLM.from_pretrained(d)
    e8, e4 = footprints.quantized_estimate(full, 8), footprints.quantized_estimate(full, 4)
    assert e4 < e8 < full.get_memory_footprint()
    q4 = AutoModelForCausalLM.from_pretrained(
        d,
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True
        ),
    )
    assert e4 == pytest.approx(q4.get_memory_footprint(), rel=0.02)
    q = footprints.quantized_footprints("text-generation", str(tiny_dirs["text-generation"]))
    if device() == "cpu":
        assert q["measured"] is False and "GPU" in q["why"] and q["nf4_bytes"] == e4


# ------------------------------------------------------------------------------------ CLI
@needs_minilm
@pytest.mark.slow  # builds and runs tiny transformers models
def test_cli_pipeline_prints_json(lab_data, capsys):
    from lab.cli import main

    assert main(["pipeline", "ner", "--tiny", "--json", "Ada Lovelace lived in London."]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["task"] == "ner" and record["untrained"] is True and isinstance(record["output"], list)
    assert main(["pipeline", "fill-mask", "--tiny", "--top-k", "2", "Paris is the [MASK] of France."]) == 0
    captured = capsys.readouterr()
    assert len(json.loads(captured.out)) == 2 and "UNTRAINED" in captured.err
    assert main(["pipeline", "sentiment-analysis", "Great!"]) == 2
    assert "distilbert/distilbert-base-uncased-finetuned-sst-2-english" in capsys.readouterr().err


def test_cli_pipeline_help_is_instant_and_lists_tasks():
    out = subprocess.run(
        [sys.executable, "-m", "lab", "pipeline", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0 and "--tiny" in out.stdout and "--json" in out.stdout
    assert (
        "transformers"
        not in subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys, lab.pipelines_cli; print(sorted(m for m in sys.modules if m.startswith(('transformers', 'torch'))))",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        ).stdout
    )


@pytest.mark.slow  # imports torch and transformers before refusing the folder (13 s measured)
def test_a_folder_that_is_no_model_is_one_clear_error(tmp_path, capsys):
    """`lab pipeline text-generation --model /etc` ended in a transformers traceback (ValueError, not OSError)."""
    from lab.cli import main
    from lab.core.errors import InputError
    from lab.pipelines.loading import load
    from lab.pipelines.resolve import describe

    assert main(["pipeline", "text-generation", "--model", "/etc", "hi"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The folder /etc holds no transformers model") and "Traceback" not in err
    ok, why = describe("text-generation", "/etc")
    assert not ok and "no config.json" in why  # the page says it before the Run button
    bad = tmp_path / "not-a-model"
    bad.mkdir()
    (bad / "config.json").write_text('{"model_type": "no-such-architecture"}')
    with pytest.raises(InputError, match=r"Could not load .*not-a-model.* for text-generation: .*Give a Hub id"):
        load("text-generation", str(bad))
