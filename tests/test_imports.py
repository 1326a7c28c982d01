"""Heavy imports take one process-wide lock (lab/imports.py), checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = r"""
import sys, threading
from lab.core.imports import LOCK, serialize_heavy_imports
assert serialize_heavy_imports() is True and serialize_heavy_imports() is False
assert "safetensors" not in sys.modules
LOCK.acquire()                                  # another thread is in the middle of a heavy import
t = threading.Thread(target=lambda: __import__("safetensors.numpy"))
t.start(); t.join(1.0)
assert t.is_alive() and "safetensors.numpy" not in sys.modules, "the heavy import did not wait"
import json                                     # anything else imports as usual meanwhile
LOCK.release(); t.join(60)
assert not t.is_alive() and "safetensors.numpy" in sys.modules
box = []
def importer():
    from transformers import AutoTokenizer      # the real library, its lazy names resolved under the lock
    box.append(AutoTokenizer)
threads = [threading.Thread(target=importer) for _ in range(4)]
[t.start() for t in threads]; [t.join(300) for t in threads]
assert len(box) == 4 and all(b is box[0] for b in box)
print("ok")
"""


@pytest.mark.slow  # a fresh interpreter imports transformers
def test_a_heavy_import_waits_for_the_one_in_progress_and_libraries_still_import():
    out = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip().endswith("ok"), out.stderr[-3000:]
