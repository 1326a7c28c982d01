"""Trust a persisted Chroma index only if its files are the ones we wrote: a manifest of sizes and SHA-256 hashes.

Chroma keeps its vectors in HNSW files next to a SQLite database. Overwrite ``data_level0.bin`` with random
bytes and Chroma still opens the index and answers with plausible-looking but wrong neighbours - no error, no
warning. So after every build or re-index the lab writes ``lab-manifest.json`` beside those files (each file's
size and hash), and checks it before opening the index again; a difference means the index was damaged or
edited outside the lab, and the caller rebuilds it from the markdown and says so:

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "data_level0.bin").write_bytes(b"vectors")
    >>> _ = write_manifest(d)
    >>> check_manifest(d)
    []
    >>> _ = (d / "data_level0.bin").write_bytes(b"garbage")
    >>> check_manifest(d)
    ['data_level0.bin: content changed (sha256 differs)']

``check_manifest`` returns ``None`` when there is no manifest yet (an index built before this check existed:
the caller writes one and trusts it from then on).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

MANIFEST = "lab-manifest.json"
# SQLite's side files come and go with connections; the database itself is checked by SQLite on open.
_SKIP_SUFFIXES = ("-wal", "-shm", "-journal", ".lock")


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.name != MANIFEST
        and not p.name.endswith(_SKIP_SUFFIXES)
        and not p.name.startswith(MANIFEST)
    )


def snapshot(folder: Path | str) -> dict[str, dict]:
    """{relative path: {"size": bytes, "sha256": hex}} for every persisted file under ``folder``."""
    folder = Path(folder)
    return {p.relative_to(folder).as_posix(): {"size": p.stat().st_size, "sha256": _sha256(p)} for p in _files(folder)}


def write_manifest(folder: Path | str) -> Path:
    """Record what is on disk now (written to a temporary name, then renamed: never half a manifest)."""
    folder = Path(folder)
    path = folder / MANIFEST
    tmp = folder / f"{MANIFEST}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps({"files": snapshot(folder)}, indent=1, sort_keys=True))
    tmp.replace(path)
    return path


def check_manifest(folder: Path | str) -> list[str] | None:
    """What differs from the manifest ([] = all good); None when there is no manifest to check against."""
    folder = Path(folder)
    path = folder / MANIFEST
    if not path.exists():
        return None
    try:
        want = json.loads(path.read_text())["files"]
        if not isinstance(want, dict):
            raise ValueError("files is not a mapping")
    except (ValueError, KeyError, TypeError, OSError) as e:
        return [f"{MANIFEST} is unreadable ({type(e).__name__})"]
    have = snapshot(folder)
    problems = []
    for name in sorted(set(want) | set(have)):
        w, h = want.get(name), have.get(name)
        if w is None:
            problems.append(f"{name}: not in the manifest")
        elif h is None:
            problems.append(f"{name}: missing")
        elif w.get("size") != h["size"]:
            problems.append(f"{name}: size {h['size']:,} bytes, manifest says {w.get('size')}")
        elif w.get("sha256") != h["sha256"]:
            problems.append(f"{name}: content changed (sha256 differs)")
    return problems
