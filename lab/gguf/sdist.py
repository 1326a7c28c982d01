"""llama.cpp's own converter, taken from the llama-cpp-python source distribution of exactly the installed version.

llama-cpp-python is built from an sdist whose ``vendor/llama.cpp/`` is the very llama.cpp the binding runs, so its
``convert_hf_to_gguf.py`` writes GGUFs this llama.cpp reads. We never copy (or re-implement) the converter: we find
that archive, extract the few files the converter needs into the data directory once, and run it from there.

    >>> installed_version()
    '0.3.36'
    >>> converter_script(progress=print)          # first call: find or download the sdist, extract (~3 s)
    Found llama_cpp_python-0.3.36.tar.gz in ~/.cache/llm-engineering-lab/sdist
    ...
    Extracted 189 files into ~/.cache/llm-engineering-lab/llama.cpp-0.3.36
    PosixPath('~/.cache/llm-engineering-lab/llama.cpp-0.3.36/convert_hf_to_gguf.py')

Where the archive comes from, in order: ``<data_dir>/sdist/``, pip's own cache, then
``python -m pip download --no-deps --no-binary :all: llama-cpp-python==<version> -d <data_dir>/sdist`` (PyPI, a
few minutes: pip prepares the package's metadata). Offline with none of these, the error names that command.
"""

from __future__ import annotations

import gzip
import os
import shutil
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Callable

from lab.core.errors import ProviderUnavailable
from lab.core.llamacpp_build import DIST, installed_version  # noqa: F401  (one answer to "which llama.cpp?")
from lab.core.settings import get_settings

Progress = Callable[[str], None]
VENDOR = "vendor/llama.cpp/"
# What the converter imports or opens (paths relative to vendor/llama.cpp/): the script, its per-architecture
# classes (conversion/), the gguf package of the same commit (gguf-py/), chat templates some architectures carry
# (models/templates/), and the two vocab files its built-in tokenizer fallback reads.
WANTED_PREFIXES = ("conversion/", "gguf-py/gguf/", "models/templates/")
WANTED_FILES = (
    "convert_hf_to_gguf.py",
    "LICENSE",
    "gguf-py/pyproject.toml",
    "gguf-py/LICENSE",
    "models/ggml-vocab-gpt-neox.gguf",
    "models/ggml-vocab-llama-spm.gguf",
)
_LOCK = threading.Lock()


def sdist_filename(version: str) -> str:
    return f"llama_cpp_python-{version}.tar.gz"  # the name PyPI and pip use for this sdist


def tools_dir(version: str | None = None) -> Path:
    return get_settings().data_dir / f"llama.cpp-{version or installed_version()}"


def download_command(version: str, dest: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--no-binary",
        ":all:",
        f"{DIST}=={version}",
        "-d",
        str(dest),
    ]


def _is_our_sdist(path: Path, version: str) -> bool:
    """pip's HTTP cache stores bodies under hashed names: peek at the first tar header's member name."""
    try:
        with gzip.open(path, "rb") as f:
            head = f.read(512)
    except (OSError, EOFError):
        return False
    return head[:100].split(b"\0")[0].decode(errors="replace").startswith(f"llama_cpp_python-{version}/")


def pip_cache_dirs() -> list[Path]:
    env = os.environ.get("PIP_CACHE_DIR")
    return [Path(p) for p in ([env] if env else []) + [str(Path.home() / ".cache" / "pip")]]


def find_sdist(version: str) -> Path | None:
    """The sdist of ``version`` in the data directory, or in pip's cache; None when neither has it."""
    local = get_settings().data_dir / "sdist" / sdist_filename(version)
    if local.is_file():
        return local
    for cache in pip_cache_dirs():
        for sub in ("http-v2", "http"):
            root = cache / sub
            if not root.is_dir():
                continue
            for p in root.rglob("*"):
                # the sdist is ~75 MB: skip the many small cached responses without opening them
                if p.is_file() and p.stat().st_size > 20 * 2**20 and _is_our_sdist(p, version):
                    return p
    return None


def download_sdist(version: str, progress: Progress | None = None) -> Path:
    """``pip download`` the sdist into ``<data_dir>/sdist`` (its output lines go to ``progress``)."""
    say = progress or (lambda m: None)
    dest = get_settings().data_dir / "sdist"
    dest.mkdir(parents=True, exist_ok=True)
    cmd = download_command(version, dest)
    say(
        "Downloading the llama-cpp-python source distribution from PyPI (about 75 MB; pip prepares its metadata, "
        "a few minutes): " + " ".join(cmd[1:])
    )
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    tail: list[str] = []
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail = (tail + [line])[-5:]
            say(line)
    proc.wait()
    path = dest / sdist_filename(version)
    if proc.returncode != 0 or not path.is_file():
        raise ProviderUnavailable(
            f"Could not download llama.cpp's converter (the {DIST} {version} source distribution): "
            f"{' '.join(tail[-2:]) or 'pip failed'}. On a machine with internet access run `python -m pip download "
            f"--no-deps --no-binary :all: {DIST}=={version} -d {dest}`, or copy {sdist_filename(version)} there."
        )
    return path


def extract(sdist: Path, dest: Path, progress: Progress | None = None) -> Path:
    """Extract only the converter's files from ``sdist`` into ``dest`` (via a temp folder, then renamed)."""
    say = progress or (lambda m: None)
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    n = 0
    total = sdist.stat().st_size
    with open(sdist, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tf:
        for m in tf:  # streamed: one pass over the 75 MB archive
            top, _, rel = m.name.partition("/")
            if not (rel.startswith(VENDOR) and m.isfile()):
                continue
            rel = rel[len(VENDOR) :]
            if rel in WANTED_FILES or rel.startswith(WANTED_PREFIXES):
                target = tmp / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(m) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
                n += 1
                if n % 25 == 0:
                    say(f"Extracting llama.cpp's converter: {n} files ({raw.tell() / total:.0%} of the archive read)")
    if not (tmp / "convert_hf_to_gguf.py").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProviderUnavailable(
            f"{sdist} has no vendor/llama.cpp/convert_hf_to_gguf.py: is it llama-cpp-python's sdist?"
        )
    (tmp / ".complete").write_text(sdist.name)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    say(f"Extracted {n} files into {dest}")
    return dest


def converter_script(progress: Progress | None = None, *, download: bool = True) -> Path:
    """Path of ``convert_hf_to_gguf.py`` for the installed llama-cpp-python (prepared once, thread-safe)."""
    say = progress or (lambda m: None)
    version = installed_version()
    dest = tools_dir(version)
    with _LOCK:
        if (dest / ".complete").exists():
            return dest / "convert_hf_to_gguf.py"
        sdist = find_sdist(version)
        if sdist is not None:
            say(f"Found {sdist.name if sdist.name.endswith('.tar.gz') else 'the sdist'} in {sdist.parent}")
        elif download:
            sdist = download_sdist(version, say)
        else:
            raise ProviderUnavailable(
                f"llama.cpp's converter is not prepared and the {DIST} {version} source distribution is not on this "
                f"machine. Fix (needs PyPI once): `python -m lab gguf tools`, or `{' '.join(download_command(version, get_settings().data_dir / 'sdist')[1:])}`"
                " with the venv's python."
            )
        extract(sdist, dest, say)
        return dest / "convert_hf_to_gguf.py"
