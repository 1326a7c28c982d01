"""Hugging Face pipelines: one task name and a model id in, the model's answer out, with what loading cost.

The course runs classic NLP tasks in two lines each - ``pipeline("sentiment-analysis")("I love this!")`` - and
this module keeps that shape: a registry of tasks (each with the course's default Hub model, editable), one
loader that builds ``transformers.pipeline(task, model=...)`` once per (task, model, device) and caches it, and
``run()`` that calls it and reports where the model came from, how long loading took and how much memory it holds.

    >>> r = run("sentiment-analysis", "I loved this course!")              # doctest: +SKIP (needs the Hub)
    >>> r.output
    [{'label': 'POSITIVE', 'score': 0.9998}]
    >>> r = run("ner", "Ada Lovelace lived in London.", tiny=True)         # offline: a tiny *untrained* model
    >>> r.untrained, r.note[:37]
    (True, 'TINY UNTRAINED MODEL: random weights,')

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

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from lab import assets
from lab.config import get_settings
from lab.llm.base import InputError, LabError, ProviderUnavailable

UNTRAINED_NOTE = ("TINY UNTRAINED MODEL: random weights, built from a config to show the machinery; "
                  "the output below is noise, not a prediction.")
ZERO_SHOT_TEMPLATE = "This text is about {}."
SYSTEM_PROMPT = "Answer briefly and factually."  # what SmolLM2-135M needs to stay on topic (see lab.cli)


class HubUnreachable(ProviderUnavailable):
    """The model is neither local nor in the Hugging Face cache, and the Hub cannot be reached."""


@dataclass(frozen=True)
class TaskSpec:
    name: str                 # the course's task name, what a learner types
    hf_task: str              # the task string given to transformers.pipeline(...)
    default_model: str        # the course's choice on the Hub
    example: str
    about: str
    offline: str = ""         # "smollm2" | "minilm" | "minilm-zero-shot": a real model we ship; "" = none
    kwargs: dict = field(default_factory=dict)   # extra pipeline(...) arguments


TASKS: dict[str, TaskSpec] = {s.name: s for s in [
    TaskSpec("sentiment-analysis", "sentiment-analysis", "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
             "I'm super excited to be on the way to LLM mastery!", "Positive or negative, with a confidence."),
    TaskSpec("ner", "ner", "dbmdz/bert-large-cased-finetuned-conll03-english",
             "Barack Obama was the 44th president of the United States.",
             "Named entities (people, places, organisations) grouped from word pieces.",
             kwargs={"aggregation_strategy": "simple"}),
    TaskSpec("question-answering", "lab-question-answering", "distilbert/distilbert-base-cased-distilled-squad",
             "Who was the 44th president of the United States?",
             "Finds the answer span inside a context you give (extractive: it cannot answer outside it)."),
    TaskSpec("summarization", "lab-text2text", "sshleifer/distilbart-cnn-12-6",
             "The Hugging Face transformers library is an incredibly versatile and powerful tool for natural "
             "language processing. It allows users to perform a wide range of tasks such as text classification, "
             "named entity recognition, and question answering, among others.",
             "A shorter text written by a sequence-to-sequence model.",
             kwargs={"task_key": "summarization", "result_key": "summary_text"}),
    TaskSpec("translation_en_to_fr", "lab-text2text", "google-t5/t5-base",
             "The Data Scientists were truly amazed by the power and simplicity of the HuggingFace pipeline API.",
             "English to French (T5 is told the task by a text prefix, read from its config).",
             kwargs={"task_key": "translation_en_to_fr", "result_key": "translation_text"}),
    TaskSpec("translation_en_to_es", "lab-text2text", "Helsinki-NLP/opus-mt-en-es",
             "The Data Scientists were truly amazed by the power and simplicity of the HuggingFace pipeline API.",
             "English to Spanish with a Marian model trained for this one pair.",
             kwargs={"task_key": "translation_en_to_es", "result_key": "translation_text"}),
    TaskSpec("zero-shot-classification", "zero-shot-classification", "facebook/bart-large-mnli",
             "Hugging Face's Transformers library is amazing!",
             "Scores labels it was never trained on (an NLI model; offline: MiniLM embeddings).",
             offline="minilm-zero-shot", kwargs={"hypothesis_template": ZERO_SHOT_TEMPLATE}),
    TaskSpec("text-generation", "text-generation", "openai-community/gpt2",
             "If there's one thing I want you to remember about using HuggingFace pipelines, it's",
             "Continues the text (chat models answer it). Offline: SmolLM2-135M-Instruct.", offline="smollm2"),
    TaskSpec("feature-extraction", "feature-extraction", "sentence-transformers/all-MiniLM-L6-v2",
             "Embeddings turn text into vectors.",
             "One vector per token (384 numbers each for MiniLM): the input of search and RAG.", offline="minilm"),
    TaskSpec("fill-mask", "fill-mask", "distilbert/distilroberta-base",
             "The capital of France is [MASK].",
             "Guesses the hidden word; write [MASK] (or <mask>) where it goes."),
]}
DEFAULT_LABELS = ["technology", "sports", "politics"]


class PipelineOptions(BaseModel):
    """Per-call settings; the descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    max_new_tokens: int = Field(40, ge=1, le=256, description="Generation tasks: most tokens the model may write (summaries, translations, continuations).")
    top_k: int = Field(5, ge=1, le=20, description="Fill-mask: how many candidate words to list, likeliest first.")
    multi_label: bool = Field(False, description="Zero-shot: score each label on its own (several can be true) instead of sharing 100% between them.")


# ---------------------------------------------------------------------------------------------- device, Hub
def device() -> str:
    """'cuda' when a CUDA GPU is visible, else 'cpu' (what pipeline(..., device=) and .to() accept)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_HUB_CHECK: dict[str, float | bool] = {}
_HUB_TTL_S = 60.0


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """False at once when ``HF_HUB_OFFLINE`` is set; else one small API call (cached a minute) that must answer in time."""
    from huggingface_hub import HfApi, is_offline_mode

    if is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    now = time.monotonic()
    if _HUB_CHECK and now - float(_HUB_CHECK["at"]) < _HUB_TTL_S:
        return bool(_HUB_CHECK["ok"])
    try:
        HfApi().model_info("openai-community/gpt2", timeout=timeout_s)
        ok = True
    except Exception:  # no network, DNS failure, timeout, proxy: all mean "not now"
        ok = False
    _HUB_CHECK.update(at=now, ok=ok)
    return ok


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def in_hub_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # not a valid repo id
        return False


# ---------------------------------------------------------------------------------------------- resolving
@dataclass
class Resolved:
    ref: str          # what pipeline(model=...) receives: a Hub id or a folder
    label: str        # what to show: the Hub id, or a name for a local model
    source: str       # "hub" | "hub-cache" | "local" | "offline" | "tiny"
    note: str = ""

    @property
    def untrained(self) -> bool:
        return self.source == "tiny"


def spec_of(task: str) -> TaskSpec:
    if task not in TASKS:
        raise InputError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    return TASKS[task]


def offline_model(spec: TaskSpec, *, prepare: bool = True) -> tuple[Path, str] | None:
    """The shipped model that stands in for ``spec``'s default when the Hub is unreachable (None: no stand-in).

    SmolLM2's transformers copy is converted from the shipped GGUF on first use (~20 s); ``prepare=False``
    only says where it will be.
    """
    if spec.offline == "smollm2":
        if assets.smollm2_gguf() is None:
            return None
        if not prepare and assets.path_of("smollm2-hf") is None:
            return Path("(converted from the GGUF on first use, ~20 s)"), "SmolLM2-135M-Instruct (offline copy)"
        return assets.smollm2_hf_dir(), "SmolLM2-135M-Instruct (offline copy)"
    if spec.offline.startswith("minilm"):
        d = assets.minilm_dir()
        return (d, "all-MiniLM-L6-v2 (offline copy)") if d else None
    return None


def resolve(task: str, model: str | None = None, *, tiny: bool = False, prepare: bool = True) -> Resolved:
    """Where the model for ``task`` comes from. Only a *default* model is replaced by an offline stand-in.

    >>> resolve("text-generation").source          # with HF_HUB_OFFLINE=1 and gpt2 not cached
    'offline'
    >>> resolve("ner")                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lab.pipelines.HubUnreachable: The Hugging Face Hub is unreachable ... and dbmdz/bert-large-cased-...
    """
    spec = spec_of(task)
    if tiny:
        return Resolved(str(tiny_model_dir(task)), f"tiny untrained {task} model", "tiny", UNTRAINED_NOTE)
    wanted = (model or "").strip() or spec.default_model
    if Path(wanted).expanduser().is_dir():
        folder = Path(wanted).expanduser()
        if not (folder / "config.json").is_file():   # said at once, not after importing transformers (seconds)
            raise InputError(f"The folder {wanted} holds no transformers model (no config.json). Give a folder "
                             "saved with save_pretrained, or a Hub id such as openai-community/gpt2.")
        return Resolved(str(folder), wanted, "local")
    if in_hub_cache(wanted):
        return Resolved(wanted, wanted, "hub-cache", f"{wanted} from the Hugging Face cache ({hub_cache_dir()}).")
    if hub_reachable():
        return Resolved(wanted, wanted, "hub", f"{wanted} from the Hub (downloaded once into {hub_cache_dir()}).")
    if not model or wanted == spec.default_model:
        stand_in = offline_model(spec, prepare=prepare)
        if stand_in:
            path, name = stand_in
            return Resolved(str(path), name, "offline",
                            f"The Hub is unreachable, so instead of {wanted} this runs {name}: a real model, shipped with the lab.")
    raise HubUnreachable(
        f"The Hugging Face Hub is unreachable (offline mode or no network) and {wanted} is not in the local cache, "
        f"so the {task} pipeline cannot load it. Fix: run where the Hub is reachable (unset HF_HUB_OFFLINE), "
        f"give a local model folder, or use the tiny untrained model (--tiny / the page's checkbox) to see the "
        f"machinery with random outputs.")


def describe(task: str, model: str | None = None, *, tiny: bool = False) -> tuple[bool, str]:
    """One line for the page before anything loads: (can run, where the model will come from / the fix)."""
    try:
        where = resolve(task, model, tiny=tiny, prepare=False)
    except (HubUnreachable, InputError) as e:   # unreachable, or a folder that holds no model
        return False, str(e)
    return True, where.note or f"{where.label} from the folder {where.ref}."


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class LoadInfo:
    """What loading cost: where the files are, seconds, parameters, bytes in memory."""

    model: str
    source: str
    location: str
    device: str
    dtype: str
    load_s: float
    params: int
    footprint_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Loaded:
    pipe: Any
    info: LoadInfo
    lock: threading.Lock   # a pipeline's tokenizer and generate() are not safe to share across threads


# Pipelines kept in memory, least recently used dropped first: a shared deployment where learners try many Hub
# ids must not keep every model they ever loaded (a model in use stays alive through its caller's reference).
MAX_CACHED = 4
_CACHE: OrderedDict[tuple, Loaded] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _remember(key: tuple, loaded: Loaded) -> Loaded:
    _CACHE[key] = loaded
    while len(_CACHE) > MAX_CACHED:
        _CACHE.popitem(last=False)
    return loaded


def load(task: str, model: str | None = None, *, tiny: bool = False) -> tuple[Loaded, Resolved]:
    """Build ``transformers.pipeline(task, model=...)`` once per (task, model, device); later calls reuse it."""
    spec, where = spec_of(task), resolve(task, model, tiny=tiny)
    if where.source == "offline" and spec.offline == "minilm-zero-shot":
        return _load_sentence_model(where), where
    dev = device()
    key = (spec.name, where.ref, dev)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if tiny:
                build_tiny(task, Path(where.ref))
            _register_lab_pipelines()
            from transformers import pipeline

            t0 = time.perf_counter()
            try:  # dtype "auto": the checkpoint's own (SmolLM2: bf16, 256 MiB; fp32 would double it, no faster here)
                pipe = pipeline(spec.hf_task, model=where.ref, device=dev, dtype="auto", **spec.kwargs)
            except Exception as e:  # noqa: BLE001 - a wrong id, a folder that is no model (/etc), a damaged
                # config.json, an architecture this transformers does not know: all are "this is not a loadable
                # model", whichever exception transformers picked; say which model and how to fix it.
                raise load_error(where.label, task, e) from e
            _remember(key, Loaded(pipe, model_info(pipe.model, where, time.perf_counter() - t0), threading.Lock()))
        _CACHE.move_to_end(key)
        return _CACHE[key], where


def load_error(label: str, task: str, e: BaseException) -> InputError:
    """One readable line for a model that would not load, with the library's reason cut short.

    >>> str(load_error("/etc", "text-generation", ValueError("Unrecognized model in /etc. Should have a `model_type` key")))
    "Could not load '/etc' for text-generation: Unrecognized model in /etc. Should have a `model_type` key. Give a Hub id (for example openai-community/gpt2) or a folder that holds a transformers model (config.json and weights)."
    """
    reason = " ".join(str(e).split()) or type(e).__name__
    reason = reason if len(reason) <= 300 else reason[:300] + "..."
    return InputError(f"Could not load {label!r} for {task}: {reason.rstrip('.')}. Give a Hub id (for example "
                      "openai-community/gpt2) or a folder that holds a transformers model (config.json and weights).")


def model_info(model, where: Resolved, load_s: float) -> LoadInfo:
    location = where.ref if where.source in ("local", "offline", "tiny") else hub_cache_dir()
    return LoadInfo(where.label, where.source, location, str(model.device), str(model.dtype).replace("torch.", ""),
                    round(load_s, 3), count_params(model), int(model.get_memory_footprint()))


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _load_sentence_model(where: Resolved) -> Loaded:
    """MiniLM as sentence-transformers loads it (mean pooling + normalisation), for zero-shot by similarity."""
    key = ("sentence-transformers", where.ref, device())
    with _CACHE_LOCK:
        if key not in _CACHE:
            from sentence_transformers import SentenceTransformer

            t0 = time.perf_counter()
            try:
                st_model = SentenceTransformer(where.ref, device=device())
            except Exception as e:  # noqa: BLE001 - see load()
                raise load_error(where.label, "zero-shot-classification", e) from e
            _remember(key, Loaded(st_model, model_info(st_model[0].auto_model, where, time.perf_counter() - t0),
                                   threading.Lock()))
        _CACHE.move_to_end(key)
        return _CACHE[key]


# ---------------------------------------------------------------------------------------------- running
@dataclass
class PipelineResult:
    task: str
    model: str
    source: str
    untrained: bool
    note: str
    output: Any               # the pipeline's own output, made JSON-safe
    seconds: float
    load: LoadInfo

    def to_dict(self) -> dict:
        return asdict(self)


def run(task: str, text: str, *, model: str | None = None, tiny: bool = False, context: str | None = None,
        labels: list[str] | None = None, options: PipelineOptions | None = None) -> PipelineResult:
    """Run one task on ``text``. ``context``: question answering; ``labels``: zero-shot classification."""
    opts = options or PipelineOptions()
    spec = spec_of(task)
    text = (text or "").strip()
    if not text:
        raise InputError(f"Type some text for {task} (for example: {spec.example!r}).")
    if len(text) > get_settings().max_prompt_chars:
        raise InputError(f"The text is {len(text):,} characters; the limit is {get_settings().max_prompt_chars:,}.")
    if task == "question-answering" and not (context or "").strip():
        raise InputError("Question answering needs a context: the passage the answer is copied from (--context).")
    labels = [lab.strip() for lab in (labels or DEFAULT_LABELS) if lab.strip()]
    if task == "zero-shot-classification" and not labels:
        raise InputError("Zero-shot classification needs at least one candidate label (for example: sports, politics).")
    loaded, where = load(task, model, tiny=tiny)
    t0 = time.perf_counter()
    with loaded.lock:
        if where.source == "offline" and spec.offline == "minilm-zero-shot":
            output = zero_shot_by_similarity(loaded.pipe, text, labels, multi_label=opts.multi_label)
        else:
            output = _call(spec, loaded.pipe, text, context, labels, opts)
    return PipelineResult(task, where.label, where.source, where.untrained, where.note, jsonable(output),
                          round(time.perf_counter() - t0, 3), loaded.info)


def _call(spec: TaskSpec, pipe, text: str, context: str | None, labels: list[str], opts: PipelineOptions):
    if spec.name == "question-answering":
        return pipe(text, context=context)
    if spec.name == "zero-shot-classification":
        return pipe(text, candidate_labels=labels, multi_label=opts.multi_label)
    if spec.name == "fill-mask":
        mask = pipe.tokenizer.mask_token
        filled = text.replace("[MASK]", mask).replace("<mask>", mask)
        if filled.count(mask) != 1:
            raise InputError(f"Put exactly one [MASK] where the missing word goes (this model's mask token is {mask}).")
        return pipe(filled, top_k=opts.top_k)
    if spec.name == "text-generation":
        # A chat model answers a conversation (its template adds the special tokens); a base model continues text.
        if pipe.tokenizer.chat_template:
            chat = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]
            return pipe(chat, max_new_tokens=opts.max_new_tokens, do_sample=False)
        return pipe(text, max_new_tokens=opts.max_new_tokens, do_sample=False)
    if spec.hf_task == "lab-text2text":
        return pipe(text, max_new_tokens=opts.max_new_tokens)
    return pipe(text)


def zero_shot_by_similarity(st_model, text: str, labels: list[str], *, multi_label: bool = False) -> dict:
    """Rank labels by cosine similarity of embeddings: text vs "This text is about {label}.".

    Shaped like the zero-shot pipeline's output; the scores are cosines in [-1, 1], not probabilities
    (``multi_label`` is accepted for the same signature: cosines are already independent per label).
    """
    hypotheses = [ZERO_SHOT_TEMPLATE.format(label) for label in labels]
    emb = st_model.encode([text, *hypotheses], normalize_embeddings=True, convert_to_tensor=True)
    scores = (emb[1:] @ emb[0]).tolist()
    ranked = sorted(zip(labels, scores), key=lambda p: -p[1])
    return {"sequence": text, "labels": [label for label, _ in ranked], "scores": [round(s, 4) for _, s in ranked],
            "method": "cosine similarity of all-MiniLM-L6-v2 embeddings (not probabilities)"}


def jsonable(obj):
    """numpy / torch scalars and arrays inside pipeline outputs -> plain Python, so json.dumps works."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


# ---------------------------------------------------------------------------------------------- footprints
BNB_BLOCK = 64          # bitsandbytes 4-bit: one absmax scale per 64 weights...
BNB_DOUBLE_BLOCK = 256  # ...stored in 8 bits with double quant, plus one fp32 per 256 of those scales


def quantized_estimate(model, bits: int) -> int:
    """Bytes the model would take with bitsandbytes ``bits``-bit Linear weights (the rest kept as they are).

    Which layers stay unquantized is transformers' own rule (``get_keys_to_not_convert``: the output head and
    tied weights). 4-bit (NF4 with double quant, as the course loads it) adds about one byte per 64 weights for
    the scales; 8-bit (LLM.int8) one fp32 scale per output row.
    """
    import torch
    from transformers.quantizers.base import get_keys_to_not_convert

    if bits not in (4, 8):
        raise InputError("bitsandbytes quantizes to 4 or 8 bits.")
    keep = set(get_keys_to_not_convert(model))
    total = 0
    quantized_ids = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name not in keep:
            n = module.weight.numel()
            blocks = -(-n // BNB_BLOCK)
            scales = blocks + 4 * -(-blocks // BNB_DOUBLE_BLOCK) if bits == 4 else module.out_features * 4
            total += n * bits // 8 + scales
            quantized_ids.add(id(module.weight))
    for p in model.parameters():  # everything else at its current size (and buffers, as get_memory_footprint counts)
        if id(p) not in quantized_ids:
            total += p.numel() * p.element_size()
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    return int(total)


def quantized_footprints(task: str, model: str | None = None, *, tiny: bool = False) -> dict:
    """The course's comparison: full footprint vs 8-bit vs 4-bit. Measured on a GPU, estimated on a CPU."""
    loaded, where = load(task, model, tiny=tiny)
    net = loaded.pipe.model if hasattr(loaded.pipe, "model") else loaded.pipe[0].auto_model
    out = {"model": where.label, "full_bytes": int(net.get_memory_footprint()), "device": device()}
    estimate = {"measured": False, "int8_bytes": quantized_estimate(net, 8), "nf4_bytes": quantized_estimate(net, 4)}
    how = "estimated from the layer shapes: Linear weights at 8 or 4 bits plus their scales, everything else unchanged."
    if device() != "cuda":
        return out | estimate | {"why": "bitsandbytes' 4-bit and 8-bit kernels are built for CUDA GPUs (recent "
                                        "versions also run on CPU, slowly), so on this CPU machine the sizes are " + how}
    if not hasattr(loaded.pipe, "model"):  # the sentence-transformers stand-in is not a pipeline(...) to reload
        return out | estimate | {"why": "The offline MiniLM stand-in is not reloaded quantized; sizes " + how}
    from transformers import BitsAndBytesConfig, pipeline

    spec = TASKS[task]
    for key, cfg in (("int8_bytes", BitsAndBytesConfig(load_in_8bit=True)),
                     ("nf4_bytes", BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                      bnb_4bit_use_double_quant=True))):
        _register_lab_pipelines()
        q = pipeline(spec.hf_task, model=where.ref, model_kwargs={"quantization_config": cfg}, **spec.kwargs)
        out[key] = int(q.model.get_memory_footprint())
        del q
    return out | {"measured": True, "why": "Loaded again with BitsAndBytesConfig on the GPU and measured."}


# ---------------------------------------------------------------------------------------------- tiny models
NER_LABELS = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]  # CoNLL-2003's
_TINY_LOCK = threading.Lock()


def tiny_model_dir(task: str) -> Path:
    return get_settings().data_dir / "tiny-models" / spec_of(task).name


def tiny_config(task: str, vocab_size: int, pad_id: int, eos_id: int):
    """A config of the same family as the task's real model, shrunk to ~1M parameters (most in the embeddings)."""
    from transformers import BertConfig, LlamaConfig, T5Config

    bert = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                intermediate_size=64, max_position_embeddings=512, pad_token_id=pad_id)
    def labels(names):
        return {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}

    if task == "sentiment-analysis":
        return BertConfig(**bert, **labels(["NEGATIVE", "POSITIVE"])), "AutoModelForSequenceClassification"
    if task == "zero-shot-classification":  # an NLI head: the pipeline looks for the label named "entailment"
        return (BertConfig(**bert, **labels(["contradiction", "neutral", "entailment"])),
                "AutoModelForSequenceClassification")
    if task == "ner":
        return BertConfig(**bert, **labels(NER_LABELS)), "AutoModelForTokenClassification"
    if task == "question-answering":
        return BertConfig(**bert), "AutoModelForQuestionAnswering"
    if task == "fill-mask":
        return BertConfig(**bert), "AutoModelForMaskedLM"
    if task == "feature-extraction":
        return BertConfig(**bert), "AutoModel"
    if task == "text-generation":  # the architecture of SmolLM2 and Llama, at 1/100 000 of the size
        return (LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                            num_attention_heads=2, num_key_value_heads=1, pad_token_id=pad_id, eos_token_id=eos_id,
                            bos_token_id=eos_id), "AutoModelForCausalLM")
    # summarization / translation: T5, which reads the task from a text prefix kept in its config
    prefixes = {"summarization": {"prefix": "summarize: "},
                "translation_en_to_fr": {"prefix": "translate English to French: "},
                "translation_en_to_es": {"prefix": "translate English to Spanish: "}}
    return (T5Config(vocab_size=vocab_size, d_model=32, d_kv=16, d_ff=64, num_layers=2, num_heads=2,
                     pad_token_id=pad_id, eos_token_id=eos_id, decoder_start_token_id=pad_id,
                     task_specific_params=prefixes), "AutoModelForSeq2SeqLM")


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


# ---------------------------------------------------------------------------------------------- lab pipelines
_REGISTERED = False


def _register_lab_pipelines() -> None:
    """Register the two task pipelines transformers 5 removed (see the module docstring), once."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM, Pipeline
    from transformers.pipelines import PIPELINE_REGISTRY

    class Text2TextPipeline(Pipeline):
        """Seq2seq: (config prefix +) text -> generate() -> decoded text under the course's key."""

        _load_tokenizer = True
        _pipeline_calls_generate = True

        def _sanitize_parameters(self, task_key=None, result_key=None, max_new_tokens=None, **kwargs):
            pre = {"task_key": task_key} if task_key else {}
            fwd = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
            post = {"result_key": result_key} if result_key else {}
            return pre, fwd, post

        def preprocess(self, text, task_key=""):
            prefix = ((self.model.config.task_specific_params or {}).get(task_key) or {}).get("prefix", "")
            enc = self.tokenizer(prefix + text, return_tensors="pt", truncation=True)
            enc.pop("token_type_ids", None)  # BERT-style tokenizers add them; encoder-decoder models take none
            return enc

        def _forward(self, inputs, **generate_kwargs):
            return {"ids": self.model.generate(**inputs, **generate_kwargs)}

        def postprocess(self, outputs, result_key="generated_text"):
            return [{result_key: self.tokenizer.decode(outputs["ids"][0], skip_special_tokens=True)}]

    class ExtractiveQAPipeline(Pipeline):
        """(question, context) -> start/end logits -> the likeliest span of the context (answer <= 30 tokens)."""

        _load_tokenizer = True

        def _sanitize_parameters(self, context=None, max_answer_len=None, **kwargs):
            return ({"context": context} if context is not None else {}), {}, (
                {"max_answer_len": max_answer_len} if max_answer_len else {})

        def preprocess(self, question, context=""):
            enc = self.tokenizer(question, context, return_tensors="pt", truncation="only_second", max_length=384,
                                 return_offsets_mapping=True)
            offsets = enc.pop("offset_mapping")[0]
            in_context = [s == 1 for s in enc.sequence_ids(0)]
            return {"inputs": dict(enc), "offsets": offsets, "in_context": in_context, "context": context}

        def _forward(self, batch):
            out = self.model(**batch["inputs"])
            return {**batch, "start": out.start_logits[0], "end": out.end_logits[0]}

        def postprocess(self, out, max_answer_len=30):
            import torch

            mask = torch.tensor(out["in_context"])
            start = out["start"].float().masked_fill(~mask, -1e4).softmax(-1)
            end = out["end"].float().masked_fill(~mask, -1e4).softmax(-1)
            pair = torch.triu(start[:, None] * end[None, :]).tril(max_answer_len - 1)  # end >= start, short spans
            best = int(pair.argmax())
            i, j = divmod(best, pair.shape[1])
            a, b = int(out["offsets"][i][0]), int(out["offsets"][j][1])
            return {"score": float(pair.flatten()[best]), "start": a, "end": b, "answer": out["context"][a:b]}

    PIPELINE_REGISTRY.register_pipeline("lab-text2text", pipeline_class=Text2TextPipeline, pt_model=AutoModelForSeq2SeqLM)
    PIPELINE_REGISTRY.register_pipeline("lab-question-answering", pipeline_class=ExtractiveQAPipeline,
                                        pt_model=AutoModelForQuestionAnswering)
    _REGISTERED = True
