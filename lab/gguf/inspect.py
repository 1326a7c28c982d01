"""Read a GGUF's header - metadata and tensor table - with the ``gguf`` package, without loading the weights.

A GGUF file has two parts. The **header** holds the magic ``GGUF``, a version, then key/value metadata (what
architecture, how many layers, the tokenizer's whole vocabulary, the chat template) and one line per tensor
(name, shape, quantization type, offset). The **body** is the tensor data, aligned, read by llama.cpp through
mmap. ``GGUFReader`` parses the header and only memory-maps the body, so this costs no RAM for the weights.

    >>> from lab.core import assets
    >>> info = read_gguf(assets.smollm2_gguf())
    >>> info.facts["architecture"], info.facts["layers"], info.facts["quantization"]
    ('llama', 30, 'MOSTLY_Q4_1')
    >>> info.metadata["tokenizer.ggml.tokens"]          # large arrays are summarized by their length
    {'type': 'array[STRING]', 'length': 49152, 'first': ['<|endoftext|>', '<|im_start|>', '<|im_end|>']}
    >>> info.tensors[0]
    TensorInfo(name='token_embd.weight', shape=[576, 49152], type='Q8_0', bytes=30081024)
    >>> info.header_bytes, info.body_bytes                # 1.8 MB of header (mostly vocabulary), 95 MB of weights
    (1785664, 96576768)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.core.gguf_check import _stamp, open_reader
from lab.core.once import once

ARRAY_INLINE_MAX = 16  # arrays longer than this (vocabularies, merges) are summarized by length, not listed
ARRAY_HEAD = 3  # ...with their first few items as a taste


@dataclass
class TensorInfo:
    name: str
    shape: list[int]  # GGUF order: the fastest-moving dimension first (ne0), e.g. [576, 49152] for the embeddings
    type: str  # ggml type: F32, F16, Q8_0, Q4_1, Q4_K...
    bytes: int


@dataclass
class GGUFInfo:
    path: Path
    version: int
    file_bytes: int
    header_bytes: int  # where the (aligned) tensor data starts
    metadata: dict  # every key as in the file; large arrays summarized
    tensors: list[TensorInfo]
    special_tokens: dict[str, str]  # {'bos': '1 <|im_start|>', 'eos': '2 <|im_end|>', ...}: id and text

    @property
    def body_bytes(self) -> int:
        return self.file_bytes - self.header_bytes

    @property
    def facts(self) -> dict:
        return facts(self.metadata) | {"special_tokens": self.special_tokens}

    def bytes_per_type(self) -> dict[str, int]:
        """Tensor bytes by ggml type, largest first: {'Q4_1': 64.7 MB, 'Q8_0': 30.1 MB, 'F32': ...}."""
        out: dict[str, int] = defaultdict(int)
        for t in self.tensors:
            out[t.type] += t.bytes
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def to_json(self) -> dict:
        """The CLI contract: {"metadata": {KEY: VALUE}, "tensors": [{"name", "shape", "type", "bytes"}]}."""
        return {"metadata": self.metadata, "tensors": [asdict(t) for t in self.tensors]}


def _value(field) -> object:
    """One metadata value as plain JSON: scalars as they are, long arrays as {type, length, first items}."""
    from gguf import GGUFValueType

    kind = field.types[0] if field.types else None
    if kind == GGUFValueType.ARRAY:
        n = len(field.data)
        sub = field.types[-1].name if len(field.types) > 1 else "EMPTY"
        if n > ARRAY_INLINE_MAX:
            return {
                "type": f"array[{sub}]",
                "length": n,
                "first": [_plain(v) for v in field.contents(slice(0, ARRAY_HEAD))],
            }
        return [_plain(v) for v in field.contents()]
    return _plain(field.contents())


def _plain(v):
    import numpy as np

    if isinstance(v, float):  # stored as float32: print 1e-05, not 9.999999747378752e-06
        return float(str(np.float32(v)))
    return v


def _file_key(path: str | Path) -> tuple:
    path = Path(path)
    return _stamp(path) if path.is_file() else ("missing", str(path))  # a missing file raises below, uncached


@once(key=_file_key)
def read_gguf(path: str | Path) -> GGUFInfo:
    """Parse ``path``'s header (cached per path, size and mtime). Bad files raise InputError with the reason."""
    path = Path(path)
    reader = open_reader(path)  # raises InputError for missing / non-GGUF / damaged / truncated files
    from gguf import GGMLQuantizationType

    metadata = {name: _value(f) for name, f in reader.fields.items() if not name.startswith("GGUF.")}
    tensors = [
        TensorInfo(t.name, [int(d) for d in t.shape], GGMLQuantizationType(t.tensor_type).name, int(t.n_bytes))
        for t in reader.tensors
    ]
    version = int(reader.fields["GGUF.version"].contents())
    info = GGUFInfo(
        path,
        version,
        path.stat().st_size,
        int(reader.data_offset),
        metadata,
        tensors,
        _special_tokens(reader, metadata),
    )
    del reader  # drops the memory map
    return info


def facts(md: dict) -> dict:
    """The numbers a learner looks for first, from the architecture-prefixed keys (llama.*, qwen2.*, ...)."""
    from gguf.constants import LlamaFileType

    arch = md.get("general.architecture", "?")

    def a(key, default=None):
        return md.get(f"{arch}.{key}", default)

    ftype = md.get("general.file_type")
    try:
        quant = LlamaFileType(ftype).name if ftype is not None else None
    except ValueError:
        quant = f"unknown ({ftype})"
    tokens = md.get("tokenizer.ggml.tokens")
    vocab = a("vocab_size") or (tokens["length"] if isinstance(tokens, dict) else len(tokens or []))
    n_head = a("attention.head_count")
    n_embd = a("embedding_length")
    return {
        "architecture": arch,
        "name": md.get("general.name"),
        "size_label": md.get("general.size_label"),
        "context_length": a("context_length"),
        "embedding_length": n_embd,
        "layers": a("block_count"),
        "heads": n_head,
        "kv_heads": a("attention.head_count_kv", n_head),
        "head_dim": a("attention.key_length") or (n_embd // n_head if n_embd and n_head else None),
        "feed_forward_length": a("feed_forward_length"),
        "rope_freq_base": a("rope.freq_base"),
        "rope_dimensions": a("rope.dimension_count"),
        "rope_scaling": a("rope.scaling.type"),
        "quantization": quant,
        "tokenizer": md.get("tokenizer.ggml.model"),
        "tokenizer_pre": md.get("tokenizer.ggml.pre"),
        "vocab_size": vocab,
        "chat_template": md.get("tokenizer.chat_template"),
    }


def _special_tokens(reader, md: dict) -> dict[str, str]:
    """``{'bos': '1 <|im_start|>'}`` from the ``tokenizer.ggml.*_token_id`` keys, looked up in the vocabulary."""
    tokens = reader.fields.get("tokenizer.ggml.tokens")
    out = {}
    for key, tid in md.items():
        if key.startswith("tokenizer.ggml.") and key.endswith("_token_id") and isinstance(tid, int):
            name = key.removeprefix("tokenizer.ggml.").removesuffix("_token_id")
            text = tokens.contents(tid) if tokens is not None and 0 <= tid < len(tokens.data) else "?"
            out[name] = f"{tid} {text}"
    return out
