"""The quantization ladder: one model at F16 and at each smaller type, every rung measured the same way.

Convert the source once (a transformers folder, a fine-tune run folder, or a GGUF given as is), quantize the F16
file to each type, then measure every rung on the same held-out text: file size, bits per weight, load time,
prompt-processing and generation tok/s (the runner's benchmark, ``lab.gguf.bench``), perplexity, and agreement
with the F16 rung (top-1 next token, mean KL divergence) over the same token positions (``lab.gguf.quality``).

    >>> rungs = ladder(types=["Q8_0", "Q4_K_M", "Q4_0", "Q2_K"])        # SmolLM2's transformers copy
    >>> [(r.type, round(r.bytes / 1e6), r.bpw, round(r.ppl, 2)) for r in rungs]
    [('F16', 271, 16.0, 24.22), ('Q8_0', 145, 8.51, 24.38), ('Q4_K_M', 105, 6.17, 26.04), ('Q4_0', 92, 5.35, 27.73),
     ('Q2_K', 88, 5.14, 32.53)]

Files live under ``<data_dir>/gguf/ladder/<source name>/`` and are reused while newer than what they were made
from, so a second run only measures. Quantizing a Q4_1 source again is refused unless ``allow_requantize``.
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

from pydantic import BaseModel, Field

from lab.core.errors import InputError
from lab.core.settings import get_settings
from lab.gguf import quality
from lab.gguf.convert import FreeBytes, adapter_dir, convert
from lab.gguf.quantize import LADDER, QuantizeResult, file_type, ftype_name, ftype_of, quantize

Progress = Callable[[str, float], None]  # (message, overall fraction done 0..1)
_BUILD_LOCK = threading.Lock()  # one conversion/quantization at a time: rungs of one source share names
JSON_KEYS = ("type", "path", "bytes", "bpw", "ppl", "top1_agree", "kl", "pp_tps", "tg_tps")


class LadderOptions(BaseModel):
    """How each rung is measured. Field descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    max_tokens: int = Field(
        512,
        ge=32,
        le=1024,
        description="Tokens of the held-out text scored for perplexity and agreement (more = steadier numbers, slower; memory grows as tokens x vocabulary: 512 x 49,152 floats = 100 MB).",
    )
    n_prompt: int = Field(128, ge=8, le=2048, description="Benchmark: prompt tokens evaluated in one batch (pp tok/s).")
    n_gen: int = Field(32, ge=4, le=512, description="Benchmark: tokens generated one at a time (tg tok/s).")
    repeats: int = Field(
        1,
        ge=1,
        le=10,
        description="Benchmark runs per rung; the median is kept. 1 is quick, 3 steadier on a busy machine.",
    )
    n_gpu_layers: int = Field(
        0, ge=-1, le=999, description="Layers offloaded to the GPU for the benchmark (-1 = all; GPU builds only)."
    )
    allow_requantize: bool = Field(
        False, description="Allow quantizing a source GGUF that is already quantized (worse than quantizing its F16)."
    )


@dataclass
class Rung:
    type: str
    path: Path
    bytes: int
    bpw: float
    ppl: float
    top1_agree: float | None
    kl: float | None
    pp_tps: float
    tg_tps: float
    load_s: float
    n_params: int
    fallbacks: list[str] = field(default_factory=list)  # plain-words explanation of llama.cpp's fallbacks
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The CLI's object: exactly the contract's keys."""
        d = asdict(self) | {"path": str(self.path)}
        return {k: d[k] for k in JSON_KEYS}

    def to_dict(self) -> dict:
        return asdict(self) | {"path": str(self.path)}


def parse_types(types: str | list[str] | None) -> list[str]:
    """'Q8_0,q4_k_m' -> ['Q8_0', 'Q4_K_M'] (checked against this build; F16 is always the first rung)."""
    if types is None:
        items = list(LADDER)
    else:
        items = [t for t in (types.split(",") if isinstance(types, str) else types) if t.strip()]
    out: list[str] = []
    for t in items:
        ftype_of(t)  # InputError for an unknown type, before any work
        t = t.strip().upper()
        if t not in out:
            out.append(t)
    if not out:
        raise InputError("Give at least one quantization type, e.g. --types Q8_0,Q4_K_M.")
    return out


def finetune_runs(roots: list[Path] | None = None) -> list[Path]:
    """Fine-tune run folders under ``roots`` (default: the CLI's ``<data_dir>/runs``) that have a final adapter
    to merge, newest first by run id."""
    roots = roots if roots is not None else [get_settings().data_dir / "runs"]
    found = [d for r in roots if r.is_dir() for d in r.iterdir() if adapter_dir(d)]
    return sorted(found, key=lambda d: d.name, reverse=True)


def workdir_for(source: Path) -> Path:
    """Where the rungs of ``source`` are built: beside the session's own files when the source lies in a session's
    folder (an upload, a session's run), else the shared ``<data_dir>/gguf/ladder`` (bundled model, Hub, CLI)."""
    from lab.classroom import sessions

    owner = sessions.owner_of(source)
    base = owner / "gguf" / "ladder" if owner else get_settings().data_dir / "gguf" / "ladder"
    return base / source.name.removesuffix(".gguf")


def _newest_mtime(folder: Path) -> float:
    return max((p.stat().st_mtime for p in folder.rglob("*") if p.is_file()), default=0.0)


def reference(
    source: Path, workdir: Path, say: Callable[[str], None], free_bytes: FreeBytes | None = None
) -> tuple[Path, str, list[str]]:
    """The top rung: the source GGUF itself, or the source converted to F16 (reused while up to date)."""
    if source.is_file():
        return source, ftype_name(file_type(source)), []
    out = workdir / f"{source.name}-F16.gguf"
    stamp = _newest_mtime(adapter_dir(source) or source) if source.is_dir() else 0.0
    if out.is_file() and out.stat().st_mtime >= stamp:
        say(f"Reusing {out.name} (converted earlier)")
        return out, "F16", []
    r = convert(source, out, "f16", say, free_bytes=free_bytes)
    return out, "F16", [f"convert_hf_to_gguf.py warned: {w}" for w in r.warnings]


def rung_file(ref: Path, workdir: Path, type_: str, say, allow_requantize: bool) -> tuple[Path, list[str], list[str]]:
    """Quantize ``ref`` to ``type_`` (or reuse the file and its saved explanation); (path, fallbacks, warnings)."""
    out = workdir / f"{ref.stem.removesuffix('-F16')}-{type_}.gguf"
    notes = out.with_suffix(".quantize.json")
    if out.is_file() and notes.is_file() and out.stat().st_mtime >= ref.stat().st_mtime:
        saved = json.loads(notes.read_text())
        say(f"Reusing {out.name}")
        return out, saved["fallbacks_explained"], saved["warnings"]
    r: QuantizeResult = quantize(
        ref, out, type_, allow_requantize=allow_requantize, progress=say, n_threads=get_settings().n_threads
    )
    notes.write_text(json.dumps(r.to_dict(), indent=1))
    return out, r.explanation, r.warnings


def measure(path: Path, type_: str, tokens: list[int], ref_logp, opts: LadderOptions, say, logp=None) -> Rung:
    """Load time, size, bits per weight and speed (one plain load), then quality (a load with all logits).

    ``ref_logp``: the reference rung's log-probabilities (None when measuring the reference itself, whose own
    ``logp`` is passed in, already computed)."""
    import llama_cpp
    from llama_cpp import Llama

    from lab.gguf.bench import bench
    from lab.llm.local import LoadedModel

    threads = get_settings().n_threads or max(1, os.cpu_count() or 1)
    n_ctx = max(256, opts.n_prompt + opts.n_gen + 8)
    say(f"{type_}: loading and benchmarking (pp {opts.n_prompt} tokens, tg {opts.n_gen} tokens)")
    t0 = time.perf_counter()
    # Our own short-lived Llama, closed right after (as bench.sweep does): the shared cache would keep every rung.
    llm = Llama(model_path=str(path), n_ctx=n_ctx, n_gpu_layers=opts.n_gpu_layers, n_threads=threads, verbose=False)
    load_s = time.perf_counter() - t0
    try:
        size = int(llama_cpp.llama_model_size(llm.model))  # tensor bytes (the file adds the header)
        n_params = int(llama_cpp.llama_model_n_params(llm.model))
        b = bench(
            LoadedModel(llm, threading.Lock(), path, n_ctx),
            n_prompt=opts.n_prompt,
            n_gen=opts.n_gen,
            repeats=opts.repeats,
        )
    finally:
        llm.close()
    if logp is None:
        say(f"{type_}: scoring {len(tokens)} tokens of held-out text")
        _, logp = quality.log_probs(path, tokens, max_tokens=max(32, len(tokens)))
    q = quality.score(logp, tokens, reference=ref_logp)
    rung = Rung(
        type_,
        path,
        path.stat().st_size,
        round(size * 8 / n_params, 3),
        q.ppl,
        q.top1_agree,
        q.kl,
        b.pp_tps,
        b.tg_tps,
        load_s,
        n_params,
    )
    return rung


def ladder(
    source: str | Path | None = None,
    types: str | list[str] | None = None,
    text: str | None = None,
    options: LadderOptions | None = None,
    progress: Progress | None = None,
    *,
    free_bytes: FreeBytes | None = None,
) -> list[Rung]:
    """Build and measure the ladder; F16 (or the source GGUF) first, then ``types`` in order."""
    opts = options or LadderOptions()
    type_list = parse_types(types)
    text = text if text is not None else quality.load_text()
    if source is None:
        from lab.core import assets

        source = assets.smollm2_hf_dir(lambda m: (progress or (lambda *_: None))(m, 0.0))
    src = Path(str(source)).expanduser()
    workdir = workdir_for(src if src.exists() else Path(str(source).replace("/", "--")))  # made when first written
    steps = 2 + 2 * len(type_list)  # convert, measure F16, then quantize + measure per type
    done = [0]

    def say(msg: str) -> None:
        if progress:
            progress(msg, min(done[0] / steps, 1.0))

    with _BUILD_LOCK:
        if src.exists():
            ref, ref_type, warnings = reference(src, workdir, say, free_bytes)
        else:  # a Hub id (online), or a path that convert() will explain
            ref, ref_type, warnings = _reference_hub(str(source), workdir, say, free_bytes)
    done[0] += 1
    if ref_type not in ("F16", "BF16", "F32") and not opts.allow_requantize:
        raise InputError(
            f"{ref.name} is already quantized ({ref_type}): the rungs below it would be quantized twice, "
            "each adding its rounding error to the first. Start from the transformers folder or an F16 "
            "GGUF, or allow requantizing."
        )
    say(f"{ref_type}: scoring up to {opts.max_tokens} tokens of held-out text (the reference distribution)")
    tokens, ref_logp = quality.log_probs(ref, text, opts.max_tokens)
    top = measure(ref, ref_type, tokens, None, opts, say, logp=ref_logp)
    top.warnings = warnings
    rungs = [top]
    done[0] += 1
    for t in type_list:
        if t == ref_type:
            continue
        with _BUILD_LOCK:
            path, fallbacks, warns = rung_file(ref, workdir, t, say, opts.allow_requantize)
        done[0] += 1
        rung = measure(path, t, tokens, ref_logp, opts, say)
        rung.fallbacks, rung.warnings = fallbacks, warns
        rungs.append(rung)
        done[0] += 1
    say("Done.")
    return rungs


def _reference_hub(repo_id: str, workdir: Path, say, free_bytes) -> tuple[Path, str, list[str]]:
    out = workdir / f"{repo_id.replace('/', '--')}-F16.gguf"
    if out.is_file():
        return out, "F16", []
    r = convert(repo_id, out, "f16", say, free_bytes=free_bytes)
    return out, "F16", [f"convert_hf_to_gguf.py warned: {w}" for w in r.warnings]
