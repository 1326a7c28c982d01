"""Check that a file is a whole GGUF before llama.cpp touches it (a corrupt file can crash the process).

A GGUF starts with the magic ``b"GGUF"`` and a version; its header says how many tensors and metadata
entries follow. Reading the header with the ``gguf`` package proves the file is intact up to the tensor data;
comparing the last tensor's end offset with the file size catches a truncated download.

    >>> check_gguf_file(Path("README.md"))
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: README.md is not a GGUF file (it starts with b'---\\nt', not b'GGUF').

``open_reader(path)`` does the same checks and hands back the ``GGUFReader`` (lab.gguf.inspect reads the
header from it). A file that passed once is remembered by (path, size, mtime): reading SmolLM2's header parses
its 49,152-token vocabulary and takes seconds, so inspecting and then loading should not pay for it twice.
"""

from __future__ import annotations

import threading
from pathlib import Path

from lab.core.errors import InputError

_CHECKED: set[tuple[str, int, int]] = set()
_CHECKED_LOCK = threading.Lock()


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def open_reader(path: Path):
    """Validate ``path`` and return its ``gguf.GGUFReader`` (header parsed, tensor data memory-mapped, not read)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"No such model file: {path}")
    with open(path, "rb") as f:
        head = f.read(4)
    if head != b"GGUF":
        raise InputError(f"{path.name} is not a GGUF file (it starts with {head!r}, not b'GGUF').")
    try:
        from gguf import GGUFReader

        reader = GGUFReader(str(path))
        end = max((int(t.data_offset) + int(t.n_bytes) for t in reader.tensors), default=0)
    except Exception as e:  # the reader raises ValueError/IndexError/struct.error on damage
        raise InputError(f"{path.name} is damaged: its GGUF header cannot be read ({type(e).__name__}: {e}).") from e
    size = path.stat().st_size
    if end > size:
        raise InputError(f"{path.name} is truncated: its tensors need {end:,} bytes but the file has {size:,}.")
    with _CHECKED_LOCK:
        _CHECKED.add(_stamp(path))
    return reader


def check_gguf_file(path: Path) -> None:
    path = Path(path)
    if path.is_file():
        with _CHECKED_LOCK:
            if _stamp(path) in _CHECKED:
                return
    open_reader(path)
