"""llama.cpp tokenizers: the vocabulary inside a GGUF file (SmolLM2 offline, or any GGUF you point at).

``Llama(model_path, vocab_only=True)`` loads only the vocabulary, in milliseconds; llama.cpp then tokenizes
exactly as the model does when it runs.
"""

from __future__ import annotations

import atexit
import contextlib
import io
import threading
from pathlib import Path

from lab.core.tokenizers import auto_tokenizer
from lab.tokenization.pieces import _need

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
        self.cuts_at_newlines = (
            meta.get("tokenizer.ggml.model") == "gpt2"
            and meta.get("tokenizer.ggml.add_space_prefix", "false") == "false"
        )
        self._lock = threading.Lock()
        self._special: dict[int, str] | None = None

    def encode(self, text, *, parse_special=False, add_special=False):
        # add_bos=True adds BOS only where the GGUF says so (SmolLM2: tokenizer.ggml.add_bos_token = false)
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_special, special=parse_special)

    def token_bytes(self, token_id):
        if not 0 <= token_id < self.vocab_size:  # llama.cpp aborts the process on an id out of range
            raise KeyError(token_id)
        buf = (self._c.ctypes.c_char * 256)()  # Llama.detokenize uses 32 bytes; long tokens need more
        n = self._c.llama_token_to_piece(self.vocab, token_id, buf, 256, 0, True)
        return bytes(buf[: max(n, 0)])

    def decode(self, ids):
        return b"".join(self.token_bytes(i) for i in ids).decode("utf-8", errors="replace")

    def special_tokens(self):
        if self._special is None:  # one pass over the vocabulary (49,152 calls for SmolLM2), then kept
            mask = self._c.LLAMA_TOKEN_ATTR_CONTROL | self._c.LLAMA_TOKEN_ATTR_USER_DEFINED
            self._special = {
                i: self.token_bytes(i).decode("utf-8", errors="replace")
                for i in range(self.vocab_size)
                if self._c.llama_vocab_get_attr(self.vocab, i) & mask
            }
        return dict(self._special)

    def chat_template(self, messages, add_generation_prompt):
        if self._hf_dir is not None:  # the transformers copy renders it the way transformers does
            with self._lock:
                self._hf = self._hf or auto_tokenizer(str(self._hf_dir))
            return self._hf.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)
        template = self.llm.metadata.get("tokenizer.chat_template")
        if not template:
            return None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        bos, eos = (
            self.token_bytes(t).decode("utf-8", "replace") for t in (self.llm.token_bos(), self.llm.token_eos())
        )
        return Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos, add_generation_prompt=add_generation_prompt)(
            messages=messages
        ).prompt


def _load_smollm2(source: str) -> LlamaCppTokenizer:
    from lab.core import assets

    return LlamaCppTokenizer(_need("smollm2-gguf"), "smollm2", source, hf_dir=assets.path_of("smollm2-hf"))
