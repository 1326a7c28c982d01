"""The lab map: one entry per lab page, in the order and sections the app shows them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Lab:
    file: str
    title: str
    icon: str
    section: str
    what: str

    @property
    def exists(self) -> bool:
        return (ROOT / self.file).exists()


LABS = [
    Lab(
        "app_pages/1_Prompting.py",
        "Prompting",
        "💬",
        "Talk to models",
        "System prompts, shots, streaming, structured output, a website brochure, next-token probabilities.",
    ),
    Lab(
        "app_pages/2_Tokenization.py",
        "Tokenization",
        "🔤",
        "Talk to models",
        "Tokenizers side by side, chat templates, why numbers and letters are hard, what a prompt costs.",
    ),
    Lab(
        "app_pages/3_Tools.py",
        "Tools",
        "🛠️",
        "Talk to models",
        "Function calling with FlightAI: the tool loop made visible, step by step.",
    ),
    Lab(
        "app_pages/4_Pipelines.py",
        "Pipelines",
        "🧪",
        "Models",
        "Hugging Face pipelines for classic NLP tasks, and diffusion image generation.",
    ),
    Lab(
        "app_pages/8_GGUF_Runner.py",
        "GGUF Runner",
        "⚙️",
        "Models",
        "Inspect a GGUF, run it with llama.cpp on CPU or GPU, measure it, serve it OpenAI-compatible.",
    ),
    Lab(
        "app_pages/10_Evaluate.py",
        "Evaluate",
        "🏁",
        "Models",
        "Choose a model for your use case: your own leaderboard (score x speed x size), a blind class arena.",
    ),
    Lab(
        "app_pages/5_RAG.py",
        "RAG",
        "📚",
        "Retrieval and data",
        "A knowledge base chunked, embedded and indexed in Chroma and FAISS side by side; chat and evaluation.",
    ),
    Lab(
        "app_pages/6_Pricer.py",
        "Pricer",
        "🏷️",
        "Retrieval and data",
        "Product prices: data curation, classical baselines, LLM and ensemble pricers on one scoreboard.",
    ),
    Lab(
        "app_pages/7_Fine_tune.py",
        "Fine-tune",
        "🎛️",
        "Training",
        "LoRA / QLoRA with SFT: memory plan, live loss, local or on Modal.",
    ),
    Lab(
        "app_pages/9_Agents.py",
        "Agents",
        "🕵️",
        "Putting it together",
        "The course's capstone: a deal hunter whose planner, scanner, ensemble pricer and messenger are agents.",
    ),
]


def available() -> list[Lab]:
    return [lab for lab in LABS if lab.exists]
