"""Where a finished build of llama.cpp's own tools (``llama-server``, ``llama-bench``...) lives, if there is one.

This is the *lookup* half of the llama.cpp build: the provider layer (:mod:`lab.llm.local`, :mod:`lab.llm.llama_server`)
asks "is llama-server built?" without knowing the GGUF lab, which owns the *build* itself (:mod:`lab.gguf.build`:
sources from the sdist, cmake, compile). Both agree on one cache layout, defined here once:

    <data_dir>/llama.cpp-build/<llama-cpp-python version>-<12 hex of sha256(flags)>/bin/<tool>

and a build counts only when its ``.complete`` file lists the tool (an interrupted build never does). The flags are
``BASE_FLAGS`` plus the user's ``CMAKE_ARGS`` (the variable llama-cpp-python's own build reads), so a CUDA build and a
CPU build of the same version sit side by side.

    >>> build_key("0.3.36", cmake_flags(""))      # the version, then 12 hex characters of the flags' hash
    '0.3.36-c63977da3161'
    >>> server_binary()                           # None until ``python -m lab gguf build-server`` has run
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
from importlib import metadata
from pathlib import Path

from lab.core.errors import ProviderUnavailable
from lab.core.settings import get_settings

DIST = "llama-cpp-python"
SERVER = "llama-server"
# Portable and offline: the same no-native policy as the Python build (scripts/setup.sh), nothing fetched at build
# time (LLAMA_USE_PREBUILT_UI would download the web UI), nothing linked that a loopback server does not need.
BASE_FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DGGML_NATIVE=OFF",
    "-DLLAMA_CURL=OFF",
    "-DLLAMA_OPENSSL=OFF",
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",
    "-DBUILD_SHARED_LIBS=OFF",
)


def installed_version() -> str:
    """The installed llama-cpp-python's version: its sdist vendors exactly the llama.cpp the binding runs."""
    try:
        return metadata.version(DIST)
    except metadata.PackageNotFoundError:
        raise ProviderUnavailable(
            "llama-cpp-python is not installed: run `make run` (or pip install llama-cpp-python)."
        ) from None


def cmake_flags(cmake_args: str | None = None) -> list[str]:
    """BASE_FLAGS, then the user's ``CMAKE_ARGS`` (environment by default), later ones winning in CMake."""
    extra = os.environ.get("CMAKE_ARGS", "") if cmake_args is None else cmake_args
    flags = list(BASE_FLAGS)
    for f in shlex.split(extra):
        if f not in flags:
            flags.append(f)
    return flags


def build_key(version: str, flags: list[str]) -> str:
    return f"{version}-{hashlib.sha256(' '.join(flags).encode()).hexdigest()[:12]}"


def build_root() -> Path:
    return get_settings().data_dir / "llama.cpp-build"


def build_dir(version: str | None = None, flags: list[str] | None = None) -> Path:
    version = version or installed_version()
    return build_root() / build_key(version, flags if flags is not None else cmake_flags())


def binary(name: str = SERVER, *, flags: list[str] | None = None) -> Path | None:
    """The cached, finished build of ``name`` for the installed version and these flags; None if not built."""
    try:
        version = installed_version()
    except ProviderUnavailable:
        return None
    exact = _built(build_dir(version, flags), name)
    if exact is not None or flags is not None:
        return exact
    # CMAKE_ARGS differ from the build's (e.g. built with CUDA, now run without it): any finished build of this
    # version will do, newest first.
    others = sorted(build_root().glob(f"{version}-*"), key=lambda d: d.stat().st_mtime, reverse=True)
    return next((p for p in (_built(d, name) for d in others) if p is not None), None)


def _built(d: Path, name: str) -> Path | None:
    path = d / "bin" / name
    if not (d / ".complete").is_file() or not path.is_file():
        return None
    try:
        done = json.loads((d / ".complete").read_text()).get("targets", [])
    except (OSError, ValueError):
        return None
    return path if name in done else None


def server_binary() -> Path | None:
    """``llama-server`` built for the installed llama-cpp-python and the current ``CMAKE_ARGS``, or None."""
    return binary(SERVER)
