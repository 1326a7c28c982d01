"""Prompting lab speed on this machine: SmolLM2 via llama.cpp, plain vs JSON-schema constrained vs logprobs.

    .venv/bin/python -m bench.prompting

The reference is plain greedy generation, measured in the same run; the other rows print their ratio to it
(tok/s ratio < 1 means slower), so the numbers compare across machines. Each case runs ``REPEATS`` times
(``BENCH_REPEATS``, default 3) after one warm-up; the median is reported.
"""

from __future__ import annotations

import os
import statistics

from lab.llm import DEFAULT_SYSTEM, Options, get_provider, run
from lab.prompting.messages import build_messages
from lab.prompting.structured import DEAL_EXAMPLE, DEAL_SYSTEM_PROMPT, DealSelection, Schema, structured

REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
CITY = Schema.from_fields("city: str\ncountry: str")
_n = iter(range(10**6))


def _fresh(text: str) -> str:
    # llama.cpp reuses the KV cache of a repeated prompt prefix; a changing first line keeps TTFT honest
    # (the prompt is evaluated again each run, as a new question would be)
    return f"Question {next(_n)}: {text}"


def question():
    return build_messages(DEFAULT_SYSTEM, _fresh("Tell me about Paris in three sentences."))


def _plain():
    return [run(get_provider("local"), question(), options=Options(temperature=0, max_tokens=80)).usage]


def _logprobs():
    return [run(get_provider("local"), question(), options=Options(temperature=0, max_tokens=80, logprobs=5)).usage]


def _city():
    return structured(
        get_provider("local"),
        build_messages("", _fresh("Give the capital of France as JSON.")),
        CITY,
        options=Options(temperature=0, max_tokens=60),
    ).usage


def _deals():
    return structured(
        get_provider("local"),
        build_messages(DEAL_SYSTEM_PROMPT, _fresh(DEAL_EXAMPLE)),
        Schema.from_model(DealSelection),
        options=Options(temperature=0, max_tokens=300),
    ).usage


def measure(fn) -> tuple[float, float, int]:
    fn()  # warm-up: model load, grammar compile
    runs = [fn()[-1] for _ in range(REPEATS)]
    return (
        statistics.median(u.ttft_s * 1000 for u in runs),
        statistics.median(u.tokens_per_s or 0 for u in runs),
        runs[-1].completion_tokens,
    )


def main() -> None:
    cases = {
        "plain (reference)": _plain,
        "logprobs top-5": _logprobs,
        "JSON schema: city": _city,
        "JSON schema: DealSelection": _deals,
    }
    ref = None
    print(f"{'case':28} {'ttft ms':>8} {'tok/s':>7} {'out tok':>7} {'tok/s vs ref':>12}")
    for name, fn in cases.items():
        ttft, tps, out = measure(fn)
        ref = ref or tps
        print(f"{name:28} {ttft:8.0f} {tps:7.1f} {out:7d} {tps / ref:11.2f}x")


if __name__ == "__main__":
    main()
