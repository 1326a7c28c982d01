"""An F16 GGUF -> a smaller GGUF, with llama.cpp's own quantizer (``llama_model_quantize``, no binary needed).

Each type stores weights in blocks: Q8_0 keeps 32 int8 numbers and one scale per block (8.5 bits per weight),
Q4_0 keeps 4-bit numbers (4.5 bpw), the K-quants (Q6_K ... Q2_K) nest blocks in *super-blocks of 256* with
quantized scales, and the ``_M`` mixes give the most sensitive tensors (attn_v, ffn_down) more bits.

    >>> r = quantize("smollm2-f16.gguf", "smollm2-Q4_K_M.gguf", "Q4_K_M")
    >>> r.bytes, r.bpw
    (105454048, 6.17)                    # not 4.8 bits per weight: most tensors fell back, see below
    >>> r.explanation[0]
    '166 tensors (attn_k.weight, attn_output.weight, ...) wanted q4_K but got q5_0: q4_K packs each row in
     super-blocks of 256 weights, and these rows are 576 long (576 / 256 = 2.25), so llama.cpp fell back to
     q5_0, a type with blocks of 32, for them.'

llama.cpp reports those fallbacks through its C logger; we capture it with ``llama_log_set`` (and put
llama-cpp-python's own logger back afterwards), so the learner reads them in plain words. The output is written
to ``OUT.partial-<pid>-<random>`` and renamed when complete: no half-written GGUF under the final name.
"""

from __future__ import annotations

import ctypes
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from lab.core.errors import InputError, ProviderError
from lab.gguf.convert import human, temp_then_rename

Progress = Callable[[str], None]
# name -> (llama_cpp constant, what it is). Order = the ladder, largest first. Types needing an importance matrix
# (IQ1/IQ2/IQ3_XXS) are left out: without one llama.cpp refuses them or ruins the model.
TYPES: dict[str, tuple[str, str]] = {
    "Q8_0": ("LLAMA_FTYPE_MOSTLY_Q8_0", "8-bit, blocks of 32 weights + one F16 scale (8.5 bits per weight)"),
    "Q6_K": ("LLAMA_FTYPE_MOSTLY_Q6_K", "6-bit K-quant, super-blocks of 256 (6.6 bpw)"),
    "Q5_K_M": ("LLAMA_FTYPE_MOSTLY_Q5_K_M", "5-bit K-quant, sensitive tensors at 6 bits (about 5.7 bpw)"),
    "Q5_K_S": ("LLAMA_FTYPE_MOSTLY_Q5_K_S", "5-bit K-quant everywhere (5.5 bpw)"),
    "Q5_0": ("LLAMA_FTYPE_MOSTLY_Q5_0", "5-bit, blocks of 32 (5.5 bpw)"),
    "Q4_K_M": (
        "LLAMA_FTYPE_MOSTLY_Q4_K_M",
        "4-bit K-quant, sensitive tensors at 6 bits (about 4.8 bpw): the usual pick",
    ),
    "Q4_K_S": ("LLAMA_FTYPE_MOSTLY_Q4_K_S", "4-bit K-quant everywhere (4.6 bpw)"),
    "Q4_1": ("LLAMA_FTYPE_MOSTLY_Q4_1", "4-bit, blocks of 32 with scale and minimum (5.0 bpw)"),
    "Q4_0": ("LLAMA_FTYPE_MOSTLY_Q4_0", "4-bit, blocks of 32 with one scale (4.5 bpw)"),
    "IQ4_NL": ("LLAMA_FTYPE_MOSTLY_IQ4_NL", "4-bit non-linear levels, blocks of 32 (4.5 bpw)"),
    "Q3_K_M": ("LLAMA_FTYPE_MOSTLY_Q3_K_M", "3-bit K-quant, sensitive tensors at 4-5 bits (about 3.9 bpw)"),
    "Q3_K_S": ("LLAMA_FTYPE_MOSTLY_Q3_K_S", "3-bit K-quant everywhere (3.4 bpw)"),
    "Q2_K": ("LLAMA_FTYPE_MOSTLY_Q2_K", "2-bit K-quant, sensitive tensors at 3-4 bits (about 2.6 bpw): visibly worse"),
}
LADDER = ["Q8_0", "Q6_K", "Q5_K_M", "Q4_K_M", "Q4_0", "Q3_K_M", "Q2_K"]
UNQUANTIZED = {0: "F32", 1: "F16", 32: "BF16"}  # general.file_type values that are not quantized
FALLBACK = re.compile(
    r"warning: (\S+)\s+- ncols\s+(\d+) not divisible by (\d+) \(required for type\s+(\w+)\)"
    r" -> falling back to\s+(\w+)"
)
PROGRESS = re.compile(r"^\[\s*(\d+)/\s*(\d+)\]\s+(\S+)")
_LOCK = threading.Lock()  # llama.cpp's logger is process-wide: one capture at a time
_FTYPE_CACHE: dict[tuple, int | None] = {}


def supported_types() -> list[str]:
    """The types of the table that this llama-cpp-python build knows."""
    import llama_cpp

    return [t for t, (const, _) in TYPES.items() if hasattr(llama_cpp, const)]


def ftype_of(name: str) -> int:
    import llama_cpp

    key = name.strip().upper()
    if key not in supported_types():
        raise InputError(f"Unknown quantization type {name!r}. This build supports: {', '.join(supported_types())}.")
    return getattr(llama_cpp, TYPES[key][0])


def file_type(path: Path) -> int | None:
    """``general.file_type`` from the GGUF header (1 = F16, 15 = Q4_K_M, ...); the header read is cached."""
    from lab.core.gguf_check import _stamp, open_reader

    key = _stamp(path)
    if key not in _FTYPE_CACHE:
        reader = open_reader(path)  # also refuses a non-GGUF, damaged or truncated file
        f = reader.fields.get("general.file_type")
        _FTYPE_CACHE[key] = int(f.parts[-1][0]) if f is not None else None
    return _FTYPE_CACHE[key]


def ftype_name(ft: int | None) -> str:
    if ft is None:
        return "unknown"
    if ft in UNQUANTIZED:
        return UNQUANTIZED[ft]
    import llama_cpp

    for t, (const, _) in TYPES.items():
        if getattr(llama_cpp, const, None) == ft:
            return t
    return f"file type {ft}"


@dataclass
class Fallback:
    tensor: str
    ncols: int
    block: int  # the row length the wanted type needs a multiple of (256 for K-quants)
    wanted: str
    used: str


@dataclass
class QuantizeResult:
    path: Path
    type: str
    bytes: int
    src_bytes: int
    seconds: float
    bpw: float | None = None  # llama.cpp's own "quant size = ... (x BPW)"
    n_tensors: int = 0
    fallbacks: list[Fallback] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def explanation(self) -> list[str]:
        return explain_fallbacks(self.fallbacks, self.n_tensors)

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "type": self.type,
            "bytes": self.bytes,
            "src_bytes": self.src_bytes,
            "bpw": self.bpw,
            "seconds": round(self.seconds, 2),
            "n_fallback": len(self.fallbacks),
            "fallbacks_explained": self.explanation,
            "warnings": self.warnings,
        }


def explain_fallbacks(fallbacks: list[Fallback], n_tensors: int = 0) -> list[str]:
    """One plain sentence per (wanted, used) pair, with how many tensors and why."""
    out = []
    groups = Counter((f.wanted, f.used, f.ncols, f.block) for f in fallbacks)
    for (wanted, used, ncols, block), n in groups.most_common():
        kinds = sorted(
            {re.sub(r"^blk\.\d+\.", "", f.tensor) for f in fallbacks if (f.wanted, f.used) == (wanted, used)}
        )
        out.append(
            f"{n} tensor{'s' if n > 1 else ''} ({', '.join(kinds[:4])}{'...' if len(kinds) > 4 else ''}) wanted {wanted} but got "
            f"{used}: {wanted} packs each row in super-blocks of {block} weights, and these rows are {ncols} "
            f"long ({ncols} / {block} = {ncols / block:g}), so llama.cpp fell back to {used}, a type with "
            f"blocks of 32, for them."
        )
    if fallbacks:
        of = f" of {n_tensors}" if n_tensors else ""
        out.append(
            f"In all {len(fallbacks)}{of} tensors fell back: the file is bigger than a true one of this type, "
            "and its quality closer to the fallback type's. Models whose hidden size is a multiple of 256 "
            "(most from 1B up) do not hit this."
        )
    return out


class _LogCapture:
    """Route llama.cpp's C log into Python lines for the duration of a ``with`` block."""

    def __init__(self, on_line: Callable[[str], None]) -> None:
        import llama_cpp

        self._buf = ""
        self.lines: list[str] = []
        self._on_line = on_line

        @llama_cpp.llama_log_callback
        def callback(level, text, user_data):  # runs on the quantizing thread; level 5 = continuation
            self._buf += text.decode("utf-8", errors="replace")
            while "\n" in self._buf:
                line, self._buf = self._buf.split("\n", 1)
                self.lines.append(line)
                try:
                    self._on_line(line)
                except Exception:  # an exception cannot cross back into C: never let a display bug stop the job
                    pass

        self._callback = callback  # keep a reference: llama.cpp holds only the C pointer

    def __enter__(self):
        import llama_cpp

        llama_cpp.llama_log_set(self._callback, ctypes.c_void_p(0))
        return self

    def __exit__(self, *exc):
        import llama_cpp
        import llama_cpp._logger as lp

        llama_cpp.llama_log_set(lp.llama_log_callback, ctypes.c_void_p(0))  # llama-cpp-python's own, as before
        if self._buf:
            self.lines.append(self._buf)
        return False


def quantize(
    src: str | Path,
    out: str | Path,
    type: str,
    *,
    allow_requantize: bool = False,
    progress: Progress | None = None,
    n_threads: int | None = None,
) -> QuantizeResult:
    """Quantize ``src`` to ``out`` as ``type`` (see ``supported_types()``). See the module docstring."""
    import llama_cpp

    say = progress or (lambda m: None)
    src, out = Path(src).expanduser(), Path(out).expanduser()
    ftype = ftype_of(type)
    type = type.strip().upper()
    if not src.is_file():
        raise InputError(f"No such GGUF file: {src}")
    if out.suffix != ".gguf":
        raise InputError(f"The output should be a .gguf file, not {out.name}.")
    if out.resolve() == src.resolve():
        raise InputError("The output must be a new file: quantizing in place would destroy the input.")
    current = file_type(src)
    warnings = []
    if current not in UNQUANTIZED:
        msg = (
            f"{src.name} is already quantized ({ftype_name(current)}). Quantizing it again stacks a second rounding "
            "error on the first: the result is worse than the same type made from the F16 file. Quantize the F16 "
            "(or BF16) GGUF instead"
        )
        if not allow_requantize:
            raise InputError(msg + ", or allow requantizing (--allow-requantize) to do it anyway.")
        warnings.append(msg + ".")
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = ftype
    params.allow_requantize = allow_requantize
    params.nthread = n_threads or 0  # 0 = llama.cpp uses every hardware thread

    def on_line(line: str) -> None:  # one message per ~10% of the tensors, not 272 lines
        if (m := PROGRESS.match(line)) and (int(m.group(1)) % max(1, int(m.group(2)) // 10) == 0):
            say(f"Quantizing to {type}: tensor {m.group(1)}/{m.group(2)} {m.group(3)}")

    t0 = time.perf_counter()
    with _LOCK, temp_then_rename(out) as tmp, _LogCapture(on_line) as cap:
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(tmp).encode(), ctypes.byref(params))
        if rc != 0:
            errors = [ln for ln in cap.lines if "error" in ln.lower() or "failed" in ln.lower()]
            raise ProviderError(
                f"llama.cpp could not quantize {src.name} to {type} (code {rc}): "
                f"{(errors or cap.lines or ['no log'])[-1].strip()}"
            )
    lines = cap.lines
    result = QuantizeResult(
        out, type, out.stat().st_size, src.stat().st_size, time.perf_counter() - t0, warnings=warnings, log=lines
    )
    for line in lines:
        if m := FALLBACK.search(line):
            result.fallbacks.append(Fallback(m.group(1), int(m.group(2)), int(m.group(3)), m.group(4), m.group(5)))
        elif m := re.search(r"quant size\s*=\s*[\d.]+ MiB \(([\d.]+) BPW\)", line):
            result.bpw = float(m.group(1))
        elif m := PROGRESS.match(line):
            result.n_tensors = int(m.group(2))
    say(
        f"Wrote {out.name}: {human(result.bytes)} from {human(result.src_bytes)}"
        + (f", {len(result.fallbacks)} tensors fell back" if result.fallbacks else "")
    )
    return result
