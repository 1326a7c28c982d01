"""The public leaderboards the course points to, as cards: what each measures, how, and what it cannot tell you.

No leaderboard is fetched (the lab runs offline); these are links with an honest summary. The lesson of the
course's "choose a model" section: read two or three of them for the axes you care about (quality on *your* kind of
task, speed, memory, cost, context), shortlist, then measure the shortlist on your own task - this lab's suite.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class Board:
    name: str
    url: str
    measures: str
    how: str
    caveat: str
    axis: str  # the question it answers

    def to_dict(self) -> dict:
        return asdict(self)


BOARDS = [
    Board(
        "Open LLM Leaderboard (Hugging Face)",
        "https://huggingface.co/spaces/open-llm-leaderboard/open_llm_leaderboard",
        "Open-weights models on automatic benchmarks: IFEval (instruction following), BBH (reasoning), MATH lvl 5, "
        "GPQA (graduate-level questions), MuSR (multi-step reasoning), MMLU-PRO (knowledge).",
        "Every model run by Hugging Face with EleutherAI's lm-evaluation-harness, same prompts and settings; "
        "v2 (2024) replaced benchmarks that had saturated or leaked into training data.",
        "Benchmarks, not conversations; a high score can reflect contamination. Hugging Face retired it in 2025: "
        "the results stay browsable but new models are no longer added.",
        "Which open model is strongest on standard benchmarks?",
    ),
    Board(
        "BigCode Models Leaderboard",
        "https://huggingface.co/spaces/bigcode/bigcode-models-leaderboard",
        "Code models: pass@1 on HumanEval (Python) and MultiPL-E (the same problems translated to 18 languages), "
        "plus throughput and peak memory.",
        "Generate code for each problem and run its unit tests; pass@1 = share solved on the first sample.",
        "Short, self-contained functions: says little about a large codebase, tool use or agentic coding.",
        "Which model writes correct code, in which language?",
    ),
    Board(
        "LLM-Perf Leaderboard (Hugging Face Optimum)",
        "https://huggingface.co/spaces/optimum/llm-perf-leaderboard",
        "Speed and cost of running open models on given hardware (A10, A100, CPU...) with given backends and "
        "quantizations: latency, prefill and decode throughput (tokens/s), peak memory, energy.",
        "optimum-benchmark runs each model x hardware x backend x quantization the same way. Its chart: x = "
        "latency, y = Open LLM score, bubble = memory - look for small bubbles at the top left.",
        "Your hardware, batch size and prompt lengths differ: measure the shortlist yourself (this lab's chart "
        "is the same plot for your models on this machine).",
        "How fast and how big is it on my hardware?",
    ),
    Board(
        "Vellum LLM Leaderboard",
        "https://www.vellum.ai/llm-leaderboard",
        "Frontier and open models side by side: price per million input/output tokens, context window, speed "
        "(tokens/s, time to first token) and selected benchmark scores (reasoning, coding, tool use).",
        "Compiled by Vellum from providers' published prices and reported or independently run benchmarks.",
        "A vendor's compilation, updated on its own schedule: check prices on the providers' pages (lab/llm/pricing.py "
        "dates its own table).",
        "What does it cost, and how much context does it take?",
    ),
    Board(
        "Chatbot Arena / LMArena (LMSYS)",
        "https://lmarena.ai/leaderboard",
        "Human preference: people put a prompt to two anonymous models and vote for the better answer (A, B, tie, "
        "both bad); millions of votes. Category boards (coding, hard prompts, long queries, vision...).",
        "Bradley-Terry ratings fitted to the pairwise votes (first online Elo), with bootstrap confidence "
        "intervals; 'style control' separates substance from length and formatting. This lab's arena does the same "
        "for your class.",
        "Preference, not correctness: longer and friendlier answers win votes; overlapping intervals mean no "
        "real difference; providers can test many private variants before release.",
        "Which model do people prefer to talk to?",
    ),
]
