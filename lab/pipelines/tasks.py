"""The tasks the lab runs, each with the course's default Hub model and what stands in for it offline.

>>> spec_of("ner").default_model
'dbmdz/bert-large-cased-finetuned-conll03-english'
>>> spec_of("summarise")
Traceback (most recent call last):
...
lab.core.errors.InputError: Unknown task 'summarise'; choose one of: ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from lab.core.errors import InputError, ProviderUnavailable
from lab.llm.base import DEFAULT_SYSTEM

UNTRAINED_NOTE = (
    "TINY UNTRAINED MODEL: random weights, built from a config to show the machinery; "
    "the output below is noise, not a prediction."
)
ZERO_SHOT_TEMPLATE = "This text is about {}."
SYSTEM_PROMPT = DEFAULT_SYSTEM  # what SmolLM2-135M needs to stay on topic (see lab.llm.base)


class HubUnreachable(ProviderUnavailable):
    """The model is neither local nor in the Hugging Face cache, and the Hub cannot be reached."""


@dataclass(frozen=True)
class TaskSpec:
    name: str  # the course's task name, what a learner types
    hf_task: str  # the task string given to transformers.pipeline(...)
    default_model: str  # the course's choice on the Hub
    example: str
    about: str
    offline: str = ""  # "smollm2" | "minilm" | "minilm-zero-shot": a real model we ship; "" = none
    kwargs: dict = field(default_factory=dict)  # extra pipeline(...) arguments


TASKS: dict[str, TaskSpec] = {
    s.name: s
    for s in [
        TaskSpec(
            "sentiment-analysis",
            "sentiment-analysis",
            "distilbert/distilbert-base-uncased-finetuned-sst-2-english",
            "I'm super excited to be on the way to LLM mastery!",
            "Positive or negative, with a confidence.",
        ),
        TaskSpec(
            "ner",
            "ner",
            "dbmdz/bert-large-cased-finetuned-conll03-english",
            "Barack Obama was the 44th president of the United States.",
            "Named entities (people, places, organisations) grouped from word pieces.",
            kwargs={"aggregation_strategy": "simple"},
        ),
        TaskSpec(
            "question-answering",
            "lab-question-answering",
            "distilbert/distilbert-base-cased-distilled-squad",
            "Who was the 44th president of the United States?",
            "Finds the answer span inside a context you give (extractive: it cannot answer outside it).",
        ),
        TaskSpec(
            "summarization",
            "lab-text2text",
            "sshleifer/distilbart-cnn-12-6",
            "The Hugging Face transformers library is an incredibly versatile and powerful tool for natural "
            "language processing. It allows users to perform a wide range of tasks such as text classification, "
            "named entity recognition, and question answering, among others.",
            "A shorter text written by a sequence-to-sequence model.",
            kwargs={"task_key": "summarization", "result_key": "summary_text"},
        ),
        TaskSpec(
            "translation_en_to_fr",
            "lab-text2text",
            "google-t5/t5-base",
            "The Data Scientists were truly amazed by the power and simplicity of the HuggingFace pipeline API.",
            "English to French (T5 is told the task by a text prefix, read from its config).",
            kwargs={"task_key": "translation_en_to_fr", "result_key": "translation_text"},
        ),
        TaskSpec(
            "translation_en_to_es",
            "lab-text2text",
            "Helsinki-NLP/opus-mt-en-es",
            "The Data Scientists were truly amazed by the power and simplicity of the HuggingFace pipeline API.",
            "English to Spanish with a Marian model trained for this one pair.",
            kwargs={"task_key": "translation_en_to_es", "result_key": "translation_text"},
        ),
        TaskSpec(
            "zero-shot-classification",
            "zero-shot-classification",
            "facebook/bart-large-mnli",
            "Hugging Face's Transformers library is amazing!",
            "Scores labels it was never trained on (an NLI model; offline: MiniLM embeddings).",
            offline="minilm-zero-shot",
            kwargs={"hypothesis_template": ZERO_SHOT_TEMPLATE},
        ),
        TaskSpec(
            "text-generation",
            "text-generation",
            "openai-community/gpt2",
            "If there's one thing I want you to remember about using HuggingFace pipelines, it's",
            "Continues the text (chat models answer it). Offline: SmolLM2-135M-Instruct.",
            offline="smollm2",
        ),
        TaskSpec(
            "feature-extraction",
            "feature-extraction",
            "sentence-transformers/all-MiniLM-L6-v2",
            "Embeddings turn text into vectors.",
            "One vector per token (384 numbers each for MiniLM): the input of search and RAG.",
            offline="minilm",
        ),
        TaskSpec(
            "fill-mask",
            "fill-mask",
            "distilbert/distilroberta-base",
            "The capital of France is [MASK].",
            "Guesses the hidden word; write [MASK] (or <mask>) where it goes.",
        ),
    ]
}
DEFAULT_LABELS = ["technology", "sports", "politics"]


class PipelineOptions(BaseModel):
    """Per-call settings; the descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    max_new_tokens: int = Field(
        40,
        ge=1,
        le=256,
        description="Generation tasks: most tokens the model may write (summaries, translations, continuations).",
    )
    top_k: int = Field(5, ge=1, le=20, description="Fill-mask: how many candidate words to list, likeliest first.")
    multi_label: bool = Field(
        False,
        description="Zero-shot: score each label on its own (several can be true) instead of sharing 100% between them.",
    )


def spec_of(task: str) -> TaskSpec:
    if task not in TASKS:
        raise InputError(f"Unknown task {task!r}; choose one of: {', '.join(TASKS)}.")
    return TASKS[task]
