"""How much did quantizing cost? Perplexity, and agreement with the F16 model, from llama.cpp's own logits.

One forward pass over a held-out text with ``Llama(logits_all=True)`` gives, at every position i, the model's
scores for the next token. From them:

- **perplexity** = exp(mean over positions of -log p(token[i+1] | tokens[..i])): "as unsure as a uniform choice
  among ppl tokens". The same number transformers reports as exp(loss) on the same token ids.
- **top-1 agreement** with F16: the share of positions where both models' likeliest next token is the same.
- **mean KL divergence** KL(F16 || quantized) = sum_v p16(v) (log p16(v) - log pq(v)), averaged over positions, in
  nats: 0 when the distributions are identical; it sees changes that the top-1 token hides.

    >>> ids, ref = log_probs("smollm2-f16.gguf", load_text(), max_tokens=512)   # the company-history file
    >>> ref.shape                                                   # log-softmax rows for positions 0..510
    (511, 49152)
    >>> score(ref, ids).ppl                                         # transformers' exp(loss) on these ids: 24.225
    24.224
    >>> _, q = log_probs("smollm2-Q4_K_M.gguf", ids)                # the same positions
    >>> s = score(q, ids, reference=ref); s.ppl, s.top1_agree, s.kl    # worse, mostly agrees, small KL (nats)
    (26.04, 0.879, 0.063)

A ``Llama`` with all logits keeps n_ctx x vocabulary floats (512 x 49,152 x 4 bytes = 100 MB): it is built for
the measurement and closed right after, not kept in the shared model cache.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from lab.core.errors import InputError
from lab.core.settings import REPO_ROOT, get_settings

DEFAULT_TEXT = REPO_ROOT / "knowledge-base" / "company" / "company-history.md"
MIN_TOKENS = 16


def load_text(path: str | Path | None = None) -> str:
    """A held-out text: ``path``, or the knowledge base's company history (about 500 SmolLM2 tokens)."""
    p = Path(path).expanduser() if path else DEFAULT_TEXT
    if not p.is_file():
        raise InputError(f"No such text file: {p}")
    text = p.read_text(encoding="utf-8", errors="replace")
    if not text.strip():
        raise InputError(f"{p.name} is empty: perplexity needs a text to predict.")
    return text


def _llama(path: Path, n_ctx: int):
    from llama_cpp import Llama

    threads = get_settings().n_threads or max(1, os.cpu_count() or 1)
    return Llama(
        model_path=str(path), n_ctx=n_ctx, n_batch=min(n_ctx, 512), logits_all=True, n_threads=threads, verbose=False
    )


def _magic(path: Path) -> bytes:
    with open(path, "rb") as f:
        return f.read(4)


def log_softmax(x: np.ndarray) -> np.ndarray:
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def log_probs(path: str | Path, text: str | list[int], max_tokens: int = 512) -> tuple[list[int], np.ndarray]:
    """(token ids, log-probabilities): row i = log p(. | ids[..i]) for i in 0..n-2, the predictions of ids[1:].

    ``text`` is tokenized with the GGUF's own tokenizer (a BOS only where the model asks for one) and cut to
    ``max_tokens``; pass the reference's token ids instead to score another rung on exactly the same positions.
    """
    if not 32 <= max_tokens <= 8192:
        raise InputError("max_tokens must be between 32 and 8192.")
    path = Path(path)
    if not path.is_file() or _magic(path) != b"GGUF":
        raise InputError(f"{path} is not a GGUF file.")
    tokens = None if isinstance(text, str) else list(text)
    llm = _llama(path, max(256, max_tokens if tokens is None else len(tokens)))
    try:
        if tokens is None:
            tokens = llm.tokenize(text.encode("utf-8"), add_bos=True, special=False)[:max_tokens]
        if len(tokens) < MIN_TOKENS:
            raise InputError(
                f"The text is only {len(tokens)} tokens: give at least {MIN_TOKENS} (a paragraph or more)."
            )
        llm.eval(tokens)  # one pass; with logits_all every position's scores are kept
        scores = np.array(llm.scores[: len(tokens) - 1], dtype=np.float32)
    finally:
        llm.close()
    return tokens, log_softmax(scores)


@dataclass
class Quality:
    ppl: float
    nll: float  # mean negative log-likelihood, nats per token
    n_positions: int
    top1_agree: float | None  # None for the reference itself
    kl: float | None

    def to_dict(self) -> dict:
        return asdict(self)


def score(logp: np.ndarray, tokens: list[int], reference: np.ndarray | None = None) -> Quality:
    """Perplexity of ``tokens[1:]`` under ``logp``; with a reference, top-1 agreement and mean KL(ref || this)."""
    targets = np.asarray(tokens[1:], dtype=np.int64)
    if logp.shape[0] != len(targets):
        raise InputError("log-probabilities and tokens do not line up (measure both on the same token ids).")
    nll = float(-logp[np.arange(len(targets)), targets].mean())
    agree = kl = None
    if reference is not None:
        if reference.shape != logp.shape:
            raise InputError(
                f"The reference has shape {reference.shape}, this model {logp.shape}: same text and "
                "same vocabulary needed."
            )
        agree = float((reference.argmax(-1) == logp.argmax(-1)).mean())
        kl = float((np.exp(reference) * (reference - logp)).sum(-1).mean())
    return Quality(math.exp(nll), nll, len(targets), agree, kl)
