"""tiktoken tokenizers: OpenAI's cl100k_base and o200k_base, and Qwen 3's vocabulary with Qwen's own regex.

tiktoken runs any byte-level BPE given its ranks and its pre-tokenizer regex, so Qwen 3 (151,643 ranks from
quicktok-v1) runs through it too, after NFC normalization as Qwen's tokenizer does.
"""

from __future__ import annotations

import struct
import unicodedata
from pathlib import Path

from lab.tokenization.pieces import _need


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
QWEN_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def read_quicktok_special(path: Path) -> dict[str, int]:
    """quicktok's ``.special``: u32 count, then per token u32 id, u16 length, the bytes (little-endian)."""
    data, out = path.read_bytes(), {}
    (count,), pos = struct.unpack_from("<I", data, 0), 4
    for _ in range(count):
        token_id, n = struct.unpack_from("<IH", data, pos)
        out[data[pos + 6 : pos + 6 + n].decode("utf-8")] = token_id
        pos += 6 + n
    return out


def _load_tiktoken(name: str, source: str) -> TiktokenTokenizer:
    from lab.core import assets

    assets.prepare_tiktoken_cache()
    import tiktoken

    return TiktokenTokenizer(tiktoken.get_encoding(name), name, source)


def _load_qwen(source: str) -> TiktokenTokenizer:
    """tiktoken runs any byte-level BPE given its ranks and regex: Qwen 3's 151,643 ranks + 26 special tokens.

    No Qwen tokenizer.json ships offline, so the references are llama.cpp's: the 43 cases it keeps for Qwen2's
    vocabulary (ids made with Hugging Face tokenizers; Qwen 3 kept that vocabulary and regex) all match
    (tests/test_tokenization.py), and so does every line of a 2,300-line multilingual corpus through llama.cpp's
    ggml-vocab-qwen2.gguf and through Hugging Face tokenizers built from that GGUF's merges
    (tests/test_tokenizer_fidelity.py). With the Hub reachable, ``hf:Qwen/Qwen3-0.6B`` runs the official one."""
    from lab.core import assets

    path = _need("qwen3-vocab")
    import tiktoken

    enc = tiktoken.Encoding(
        "qwen3",
        pat_str=QWEN_PATTERN,
        mergeable_ranks=dict(assets.read_quicktok_vocab(path)),
        special_tokens=read_quicktok_special(path.with_suffix(".special")),
    )
    return TiktokenTokenizer(enc, "qwen", source, normalize="NFC")
