"""Run a task on a text: load (or reuse) its pipeline, call it, and say where the answer came from.

Online (needs the Hub), and offline with a tiny untrained model (tests/test_pipelines.py runs both shapes):

    >>> r = run("sentiment-analysis", "I loved this course!")       # doctest: +SKIP
    >>> r.output                                                     # doctest: +SKIP
    [{'label': 'POSITIVE', 'score': 0.9998}]
    >>> r = run("ner", "Ada Lovelace lived in London.", tiny=True)  # doctest: +SKIP
    >>> r.untrained, r.note[:37]                                     # doctest: +SKIP
    (True, 'TINY UNTRAINED MODEL: random weights,')

Offline, zero-shot classification ranks labels by the cosine similarity of MiniLM embeddings of the text and of
"This text is about {label}." (``zero_shot_by_similarity``): a real result, labelled with the model that made it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from lab.core.errors import InputError
from lab.core.settings import get_settings
from lab.pipelines.loading import LoadInfo, load
from lab.pipelines.tasks import DEFAULT_LABELS, SYSTEM_PROMPT, ZERO_SHOT_TEMPLATE, PipelineOptions, TaskSpec, spec_of


@dataclass
class PipelineResult:
    task: str
    model: str
    source: str
    untrained: bool
    note: str
    output: Any  # the pipeline's own output, made JSON-safe
    seconds: float
    load: LoadInfo

    def to_dict(self) -> dict:
        return asdict(self)


def run(
    task: str,
    text: str,
    *,
    model: str | None = None,
    tiny: bool = False,
    context: str | None = None,
    labels: list[str] | None = None,
    options: PipelineOptions | None = None,
) -> PipelineResult:
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
    return PipelineResult(
        task,
        where.label,
        where.source,
        where.untrained,
        where.note,
        jsonable(output),
        round(time.perf_counter() - t0, 3),
        loaded.info,
    )


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
    return {
        "sequence": text,
        "labels": [label for label, _ in ranked],
        "scores": [round(s, 4) for _, s in ranked],
        "method": "cosine similarity of all-MiniLM-L6-v2 embeddings (not probabilities)",
    }


def jsonable(obj):
    """numpy / torch scalars and arrays inside pipeline outputs -> plain Python, so json.dumps works."""
    if isinstance(obj, dict):
        return {k: jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj
