"""Build ``transformers.pipeline(task, model=...)`` once per (task, model, device) and keep a few of them.

A pipeline load is seconds and hundreds of MB, so loaded pipelines are cached (at most ``MAX_CACHED``, oldest
dropped first) and shared by every session, each with its own lock because a pipeline is not re-entrant. What
loading cost is measured once and reported with every result: ``LoadInfo`` (seconds, parameters, bytes held).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from lab.core.device import device
from lab.core.errors import InputError
from lab.core.hub import hub_cache_dir
from lab.pipelines.replacements import _register_lab_pipelines
from lab.pipelines.resolve import Resolved, resolve
from lab.pipelines.tasks import spec_of
from lab.pipelines.tiny import build_tiny


@dataclass
class LoadInfo:
    """What loading cost: where the files are, seconds, parameters, bytes in memory."""

    model: str
    source: str
    location: str
    device: str
    dtype: str
    load_s: float
    params: int
    footprint_bytes: int

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Loaded:
    pipe: Any
    info: LoadInfo
    lock: threading.Lock  # a pipeline's tokenizer and generate() are not safe to share across threads


# Pipelines kept in memory, least recently used dropped first: a shared deployment where learners try many Hub
# ids must not keep every model they ever loaded (a model in use stays alive through its caller's reference).
MAX_CACHED = 4
_CACHE: OrderedDict[tuple, Loaded] = OrderedDict()
_CACHE_LOCK = threading.Lock()


def _remember(key: tuple, loaded: Loaded) -> Loaded:
    _CACHE[key] = loaded
    while len(_CACHE) > MAX_CACHED:
        _CACHE.popitem(last=False)
    return loaded


def load(task: str, model: str | None = None, *, tiny: bool = False) -> tuple[Loaded, Resolved]:
    """Build ``transformers.pipeline(task, model=...)`` once per (task, model, device); later calls reuse it."""
    spec, where = spec_of(task), resolve(task, model, tiny=tiny)
    if where.source == "offline" and spec.offline == "minilm-zero-shot":
        return _load_sentence_model(where), where
    dev = device()
    key = (spec.name, where.ref, dev)
    with _CACHE_LOCK:
        if key not in _CACHE:
            if tiny:
                build_tiny(task, Path(where.ref))
            _register_lab_pipelines()
            from transformers import pipeline

            t0 = time.perf_counter()
            try:  # dtype "auto": the checkpoint's own (SmolLM2: bf16, 256 MiB; fp32 would double it, no faster here)
                pipe = pipeline(spec.hf_task, model=where.ref, device=dev, dtype="auto", **spec.kwargs)
            except Exception as e:  # noqa: BLE001 - a wrong id, a folder that is no model (/etc), a damaged
                # config.json, an architecture this transformers does not know: all are "this is not a loadable
                # model", whichever exception transformers picked; say which model and how to fix it.
                raise load_error(where.label, task, e) from e
            _remember(key, Loaded(pipe, model_info(pipe.model, where, time.perf_counter() - t0), threading.Lock()))
        _CACHE.move_to_end(key)
        return _CACHE[key], where


def load_error(label: str, task: str, e: BaseException) -> InputError:
    """One readable line for a model that would not load, with the library's reason cut short.

    >>> str(load_error("/etc", "text-generation", ValueError("Unrecognized model in /etc. Should have a `model_type` key")))
    "Could not load '/etc' for text-generation: Unrecognized model in /etc. Should have a `model_type` key. Give a Hub id (for example openai-community/gpt2) or a folder that holds a transformers model (config.json and weights)."
    """
    reason = " ".join(str(e).split()) or type(e).__name__
    reason = reason if len(reason) <= 300 else reason[:300] + "..."
    return InputError(
        f"Could not load {label!r} for {task}: {reason.rstrip('.')}. Give a Hub id (for example "
        "openai-community/gpt2) or a folder that holds a transformers model (config.json and weights)."
    )


def model_info(model, where: Resolved, load_s: float) -> LoadInfo:
    location = where.ref if where.source in ("local", "offline", "tiny") else hub_cache_dir()
    return LoadInfo(
        where.label,
        where.source,
        location,
        str(model.device),
        str(model.dtype).replace("torch.", ""),
        round(load_s, 3),
        count_params(model),
        int(model.get_memory_footprint()),
    )


def count_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def _load_sentence_model(where: Resolved) -> Loaded:
    """MiniLM as sentence-transformers loads it (mean pooling + normalisation), for zero-shot by similarity."""
    key = ("sentence-transformers", where.ref, device())
    with _CACHE_LOCK:
        if key not in _CACHE:
            from sentence_transformers import SentenceTransformer

            t0 = time.perf_counter()
            try:
                st_model = SentenceTransformer(where.ref, device=device())
            except Exception as e:  # noqa: BLE001 - see load()
                raise load_error(where.label, "zero-shot-classification", e) from e
            _remember(
                key,
                Loaded(st_model, model_info(st_model[0].auto_model, where, time.perf_counter() - t0), threading.Lock()),
            )
        _CACHE.move_to_end(key)
        return _CACHE[key]
