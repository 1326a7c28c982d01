"""The four steps of generation, one at a time: tokenize -> forward pass -> sample -> detokenize.

``create_chat_completion`` hides a loop. Here it is opened up with llama.cpp's low-level calls: the prompt
(formatted with the model's chat template) becomes token ids; ``eval`` runs the forward pass and leaves one
logit per vocabulary entry for the next position; a softmax turns logits into probabilities; one token is
picked; its text is appended; the chosen token is fed back and the loop goes on until end-of-turn.

    >>> r = run_steps(load(), "What is the capital of France?", n_steps=3)
    >>> r.prompt_ids[-4:], r.prompt_pieces[-4:]             # the template's generation prompt
    ([1, 520, 9531, 198], ['<|im_start|>', 'ass', 'istant', '\\n'])
    >>> [(c.text, round(c.prob, 2)) for c in r.steps[0].candidates[:3]]
    [('The', 0.33), ('La', 0.29), ('Le', 0.2)]
    >>> [s.chosen.text for s in r.steps], r.text
    (['The', ' capital', ' of'], 'The capital of')

Sampling is written out with numpy on purpose (llama.cpp's sampler chain does the same in C inside
``create_chat_completion``): greedy at temperature 0, else softmax(logits / T) restricted to the top-k.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from lab.core.errors import InputError
from lab.llm.base import DEFAULT_SYSTEM
from lab.llm.local import LoadedModel


@dataclass
class Candidate:
    token_id: int
    text: str
    prob: float


@dataclass
class Step:
    candidates: list[Candidate]  # the top tokens, likeliest first, with their probabilities at temperature T
    chosen: Candidate
    forward_ms: float  # time of the forward pass that produced these logits


@dataclass
class StepsResult:
    prompt: str  # the text actually tokenized (chat template applied)
    prompt_ids: list[int]
    prompt_pieces: list[str]  # each id's text, to see where the tokenizer cut
    steps: list[Step] = field(default_factory=list)
    text: str = ""  # the generated ids detokenized together
    stopped: str = "max steps"


def softmax(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities from logits; T -> 0 is argmax. Subtracting the max keeps exp() from overflowing."""
    z = logits / max(temperature, 1e-6)
    z = z - z.max()
    p = np.exp(z)
    return p / p.sum()


def format_prompt(model: LoadedModel, prompt: str, system: str | None) -> str:
    """Apply the model's own chat template (from the GGUF) the way llama-cpp-python does; plain text without one."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    llm = model.llm
    template = llm.metadata.get("tokenizer.chat_template")
    if not template:
        return prompt
    msgs = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    tok = lambda t: llm.detokenize([t], special=True).decode("utf-8", "replace") if t >= 0 else ""  # noqa: E731
    return Jinja2ChatFormatter(template, eos_token=tok(llm.token_eos()), bos_token=tok(llm.token_bos()))(
        messages=msgs
    ).prompt


def check_steps(n_steps: int, top: int) -> None:
    """The step and candidate counts a run accepts (checked before a model loads, by the CLI too)."""
    if not 1 <= n_steps <= 64 or not 1 <= top <= 20:
        raise InputError("Steps must be 1-64 and candidates shown 1-20.")


def run_steps(
    model: LoadedModel,
    prompt: str,
    *,
    system: str | None = DEFAULT_SYSTEM,
    n_steps: int = 8,
    top: int = 5,
    temperature: float = 0.0,
    top_k: int = 40,
    seed: int = 0,
    use_template: bool = True,
) -> StepsResult:
    """Generate up to ``n_steps`` tokens for ``prompt``, recording the top candidates at every step."""
    import llama_cpp

    if not prompt.strip():
        raise InputError("The prompt is empty: type a question first.")
    check_steps(n_steps, top)
    llm = model.llm
    text = format_prompt(model, prompt, system) if use_template else prompt
    # special=True: the template's markers (<|im_start|>) become their single special tokens, as in chat.
    ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    if len(ids) + n_steps > llm.n_ctx():
        raise InputError(
            f"The prompt is {len(ids):,} tokens; with {n_steps} steps it needs more than "
            f"n_ctx={llm.n_ctx():,}. Shorten it or load a larger context."
        )
    piece = lambda t: llm.detokenize([t], special=True).decode("utf-8", "replace")  # noqa: E731
    result = StepsResult(text, ids, [piece(t) for t in ids])
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    rng = np.random.default_rng(seed)
    generated: list[int] = []
    with model.lock:
        llm.reset()  # a fresh KV cache: this is a one-off walk-through
        feed = ids
        for _ in range(n_steps):
            t0 = time.perf_counter()
            llm.eval(feed)  # forward pass over the new tokens
            forward_ms = (time.perf_counter() - t0) * 1000
            # The logits of the last evaluated position: one float per vocabulary entry (49,152 for SmolLM2).
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),)).copy()
            # Shown probabilities are at the sampling temperature; greedy shows the model's own (T = 1).
            probs = softmax(logits, temperature if temperature > 0 else 1.0)
            order = np.argsort(-logits)
            if temperature > 0:  # sample among the top-k, renormalized
                keep = order[: top_k or len(order)]
                p = probs[keep] / probs[keep].sum()
                tok = int(rng.choice(keep, p=p))
            else:
                tok = int(order[0])
            cands = [Candidate(int(t), piece(int(t)), float(probs[t])) for t in order[:top]]
            result.steps.append(Step(cands, Candidate(tok, piece(tok), float(probs[tok])), forward_ms))
            if llama_cpp.llama_vocab_is_eog(vocab, tok):
                result.stopped = "end of turn"
                break
            generated.append(tok)
            feed = [tok]  # only the new token: the earlier ones are in the KV cache
        llm.reset()
    result.text = llm.detokenize(generated, special=False).decode("utf-8", "replace")
    return result
