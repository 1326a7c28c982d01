"""Tokenizer throughput: tokens per second of each lab tokenizer on a 1 MB text, against the raw library call.

    $ .venv/bin/python -m bench.tokenization
    tokenizer      tokens    lab tok/s    raw tok/s   lab/raw  raw call
    cl100k_base   245,000    1,900,000    1,700,000     1.12x  tiktoken encode_ordinary (whole text)
    ...

"lab" is ``lab.tokenization.analyse`` (what the page runs: chunks of ~64 K characters, pieces for the first
2,000 tokens); "raw" is the reference library called directly on the whole text in the same run. A ratio above
1 means the lab path is faster (chunking helps Hugging Face tokenizers on long strings). Best of ``REPEATS``;
the machine is shared, so read ratios, not absolute numbers.
"""

from __future__ import annotations

import contextlib
import io
import sys
import time
from pathlib import Path

from lab.core import assets
from lab.tokenization import analysis, registry

ROOT = Path(__file__).resolve().parent.parent
SIZE = 1_000_000  # characters of text (about 1 MB: the knowledge base is mostly ASCII)
REPEATS = 2


def corpus(size: int = SIZE) -> str:
    kb = "\n".join(p.read_text(encoding="utf-8") for p in sorted((ROOT / "knowledge-base").rglob("*.md")))
    return (kb * (size // len(kb) + 1))[:size]


def raw_callers() -> dict[str, tuple[str, object]]:
    """The reference library for each tokenizer, called directly (no lab code on the path)."""
    assets.prepare_tiktoken_cache()
    import tiktoken
    from llama_cpp import Llama
    from tokenizers import Tokenizer

    llama3 = Tokenizer.from_file(str(assets.path_of("llama3-tokenizer-json")))
    with contextlib.redirect_stderr(io.StringIO()):
        smol = Llama(model_path=str(assets.smollm2_gguf()), vocab_only=True, verbose=False)
    qwen = registry.get_tokenizer("qwen").enc  # the same tiktoken Encoding, called without the adapter
    cl, o200 = tiktoken.get_encoding("cl100k_base"), tiktoken.get_encoding("o200k_base")
    return {
        "cl100k_base": ("tiktoken encode_ordinary (whole text)", lambda t: cl.encode_ordinary(t)),
        "o200k_base": ("tiktoken encode_ordinary (whole text)", lambda t: o200.encode_ordinary(t)),
        "llama-3": (
            "tokenizers Tokenizer.encode (whole text)",
            lambda t: llama3.encode(t, add_special_tokens=False).ids,
        ),
        "smollm2": ("llama.cpp Llama.tokenize (whole text)", lambda t: smol.tokenize(t.encode(), add_bos=False)),
        "qwen": ("tiktoken Encoding.encode_ordinary (whole text)", lambda t: qwen.encode_ordinary(t)),
    }


def best(fn, repeats: int = REPEATS) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def main() -> None:
    text = corpus()
    print(f"text: {len(text):,} characters ({len(text.encode()):,} bytes) of the knowledge base; best of {REPEATS}")
    raw = raw_callers()
    print(f"{'tokenizer':12} {'tokens':>10} {'lab tok/s':>12} {'raw tok/s':>12} {'lab/raw':>8}  raw call")
    for name, (what, call) in raw.items():
        analysis.analyse(name, text[:1000])  # load and warm up outside the timing
        t_lab, a = best(lambda name=name: analysis.analyse(name, text, max_pieces=analysis.MAX_RENDER))
        t_raw, ids = best(lambda call=call: call(text))
        assert a.count == len(ids), f"{name}: lab counted {a.count}, the reference {len(ids)}"
        print(
            f"{name:12} {a.count:>10,} {a.count / t_lab:>12,.0f} {len(ids) / t_raw:>12,.0f} "
            f"{t_raw / t_lab:>7.2f}x  {what}",
            flush=True,
        )


if __name__ == "__main__":
    main()
    sys.exit(0)
