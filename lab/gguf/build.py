"""Build llama.cpp's own ``llama-server`` (and ``llama-bench``, ``llama-perplexity``) from the vendored sources of the
installed llama-cpp-python version, once, cached in the data directory.

The llama-cpp-python sdist (found or downloaded by :mod:`lab.gguf.sdist`) carries ``vendor/llama.cpp/``: exactly the
llama.cpp the binding runs. We extract its sources, configure with portable flags (no ``-march=native``, no curl, no
OpenSSL, no tests/examples, no web UI fetched from the network: the server runs with ``--no-ui``), statically linked
(``-DBUILD_SHARED_LIBS=OFF``: one self-contained binary), and build only the wanted targets. ``CMAKE_ARGS`` (the
same variable llama-cpp-python's own build reads, e.g. ``-DGGML_CUDA=on``) adds flags. The result lives in
``<data_dir>/llama.cpp-build/<version>-<hash of the flags>/bin/``; a finished build writes ``.complete`` there.
That layout and the "is it built?" lookup (``server_binary()``, ``binary(name)``) live in
:mod:`lab.core.llamacpp_build`, so the local provider can ask them without knowing this lab; this module builds.

    >>> server_binary()                      # None until built
    >>> build_tools(progress=print)          # 5-7 minutes on 2 cores the first time
    PosixPath('~/.cache/llm-engineering-lab/llama.cpp-build/0.3.36-1a2b3c4d5e6f/bin/llama-server')

Command line: ``python -m lab gguf build-server [--targets llama-server,llama-bench] [--jobs 2] [--json]``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path
from typing import Callable

from lab.core.errors import ProviderUnavailable

# The cache layout and the "is it built?" lookup live in core, where the local provider can ask them too.
from lab.core.llamacpp_build import (  # noqa: F401
    BASE_FLAGS,
    SERVER,
    binary,
    build_dir,
    build_key,
    build_root,
    cmake_flags,
    server_binary,
)
from lab.core.settings import get_settings
from lab.gguf import sdist as _sdist

Progress = Callable[[str], None]
DEFAULT_TARGETS = ("llama-server", "llama-bench", "llama-perplexity")
# Not needed to build these tools and big (vocab GGUFs, images): left in the archive.
SKIP_PREFIXES = ("models/", "media/", "docs/", "examples/model-conversion/", "tools/server/webui/", "tools/ui/dist/")
_LOCK = threading.Lock()


def source_dir(version: str) -> Path:
    return get_settings().data_dir / f"llama.cpp-src-{version}"


def find_cmake() -> str | None:
    """The venv's cmake (``pip install cmake``) first, then the system's."""
    local = Path(sys.executable).parent / "cmake"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("cmake")


def find_compiler() -> str | None:
    for name in (os.environ.get("CXX") or "", "c++", "g++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def configure_command(cmake: str, src: Path, build: Path, flags: list[str]) -> list[str]:
    return [cmake, "-S", str(src), "-B", str(build), *flags]


def build_command(cmake: str, build: Path, targets: tuple[str, ...] | list[str], jobs: int) -> list[str]:
    return [cmake, "--build", str(build), "--config", "Release", "-j", str(jobs), "--target", *targets]


def extract_sources(sdist: Path, dest: Path, progress: Progress | None = None) -> Path:
    """Extract ``vendor/llama.cpp/`` (minus models, media, docs) into ``dest`` via a temporary folder."""
    say = progress or (lambda m: None)
    if (dest / ".complete").is_file():
        return dest
    tmp = dest.with_name(dest.name + f".tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    n = 0
    with open(sdist, "rb") as raw, tarfile.open(fileobj=raw, mode="r:gz") as tf:
        for m in tf:
            _, _, rel = m.name.partition("/")
            if not rel.startswith(_sdist.VENDOR):
                continue
            rel = rel[len(_sdist.VENDOR) :]
            if not rel or rel.startswith(SKIP_PREFIXES) or not (m.isfile() or m.isdir()):
                continue
            target = tmp / rel
            if ".." in Path(rel).parts:
                continue
            if m.isdir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with tf.extractfile(m) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)
            if m.mode & 0o111:
                target.chmod(0o755)
            n += 1
    if not (tmp / "CMakeLists.txt").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise ProviderUnavailable(f"{sdist} has no vendor/llama.cpp/CMakeLists.txt: is it llama-cpp-python's sdist?")
    (tmp / ".complete").write_text(sdist.name)
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    say(f"Extracted {n} llama.cpp source files into {dest}")
    return dest


def _run(cmd: list[str], say: Progress, log: Path) -> int:
    with open(log, "a") as f:
        f.write("$ " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        f.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in proc.stdout:
            f.write(line)
            line = line.rstrip()
            if line.startswith("[") or "error" in line.lower():
                say(line)
        return proc.wait()


def build_tools(
    targets: tuple[str, ...] | list[str] = DEFAULT_TARGETS,
    *,
    jobs: int = 2,
    progress: Progress | None = None,
    cmake_args: str | None = None,
    download: bool = True,
) -> Path:
    """Build ``targets`` once (cached by version + flags); returns the ``bin/`` folder. Thread-safe.

    Raises ProviderUnavailable with the reason and the fix when there is no cmake or compiler, no sdist, or the
    build fails (its log stays in the build folder).
    """
    say = progress or (lambda m: None)
    targets = tuple(targets)
    flags = cmake_flags(cmake_args)
    version = _sdist.installed_version()
    build = build_dir(version, flags)
    with _LOCK:
        if all(binary(t, flags=flags) for t in targets):
            say(f"Already built: {build / 'bin'}")
            return build / "bin"
        cmake = find_cmake()
        if cmake is None:
            raise ProviderUnavailable(
                "Cannot build llama-server: cmake is not installed. Fix: `pip install cmake` "
                "(in the venv) or `apt-get install cmake`; the local model keeps running in-process."
            )
        if find_compiler() is None:
            raise ProviderUnavailable(
                "Cannot build llama-server: no C++ compiler (c++, g++ or clang++). Fix: "
                "`apt-get install build-essential`; the local model keeps running in-process."
            )
        src = source_dir(version)
        if not (src / ".complete").is_file():
            archive = _sdist.find_sdist(version)
            if archive is None:
                if not download:
                    raise ProviderUnavailable(
                        f"The llama-cpp-python {version} sdist is not on this machine: run "
                        "`python -m lab gguf build-server` with PyPI reachable once."
                    )
                archive = _sdist.download_sdist(version, say)
            say(f"Extracting llama.cpp {version} sources from {archive.name}")
            extract_sources(archive, src, say)
        build.mkdir(parents=True, exist_ok=True)
        (build / ".complete").unlink(missing_ok=True)
        log = build / "build.log"
        t0 = time.monotonic()
        say(f"Configuring: cmake {' '.join(flags)}")
        if _run(configure_command(cmake, src, build, flags), say, log) != 0:
            raise ProviderUnavailable(
                f"Configuring llama.cpp failed; see {log}. The local model keeps running in-process."
            )
        say(f"Building {', '.join(targets)} with {jobs} jobs (5-7 minutes on 2 cores)")
        if _run(build_command(cmake, build, targets, jobs), say, log) != 0:
            raise ProviderUnavailable(
                f"Building llama.cpp failed; see {log}. The local model keeps running in-process."
            )
        missing = [t for t in targets if not (build / "bin" / t).is_file()]
        if missing:
            raise ProviderUnavailable(f"The build finished without {', '.join(missing)}; see {log}.")
        (build / ".complete").write_text(
            json.dumps(
                {
                    "version": version,
                    "flags": flags,
                    "targets": list(targets),
                    "seconds": round(time.monotonic() - t0, 1),
                }
            )
        )
        say(f"Built {', '.join(targets)} in {time.monotonic() - t0:.0f} s: {build / 'bin'}")
        return build / "bin"


def main(argv: list[str] | None = None) -> int:
    """``python -m lab.gguf.build [--targets a,b] [--jobs N] [--json]`` (also ``python -m lab gguf build-server``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m lab gguf build-server", description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--print", action="store_true", help="print the cmake command lines and exit")
    args = ap.parse_args(argv)
    return run_cli(args.targets, args.jobs, args.json, args.print)


def run_cli(targets: str, jobs: int, as_json: bool, print_only: bool = False) -> int:
    tgts = tuple(t.strip() for t in targets.split(",") if t.strip())
    bad = [t for t in tgts if not all(c.isalnum() or c in "-_" for c in t)]
    if not tgts or bad or not 1 <= jobs <= 256:
        print(
            f"error: --targets needs CMake target names (got {targets!r}) and --jobs 1-256 (got {jobs})",
            file=sys.stderr,
        )
        return 2
    flags = cmake_flags()
    if print_only:
        version = _sdist.installed_version()
        cmake = find_cmake() or "cmake"
        b = build_dir(version, flags)
        print(" ".join(configure_command(cmake, source_dir(version), b, flags)))
        print(" ".join(build_command(cmake, b, tgts, jobs)))
        return 0
    say = lambda m: print(m, file=sys.stderr, flush=True)
    try:
        bindir = build_tools(tgts, jobs=jobs, progress=say)
    except ProviderUnavailable as e:
        if as_json:
            print(json.dumps({"ok": False, "error": str(e)}))
        else:
            print(f"error: {e}", file=sys.stderr)
        return 1
    out = {"ok": True, "bin": str(bindir), "binaries": {t: str(bindir / t) for t in tgts}, "flags": flags}
    print(json.dumps(out) if as_json else "\n".join(out["binaries"].values()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
