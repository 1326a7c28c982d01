"""One heavy import at a time: torch, transformers and friends are imported by one thread while others wait.

A server imports its heavy libraries lazily, in whichever page thread first needs them. Two students opening two
labs at once then import ``transformers`` and ``torch`` from two threads, each holding a module lock the other
needs; Python's import system breaks that deadlock by handing one thread a half-initialised module, and the page
fails with (measured here: the Pipelines lab still importing while the Pricer lab opened)::

    ImportError: cannot import name 'AutoTokenizer' from 'transformers'

(transformers 5's lazy module makes it likelier; vectorize-io/hindsight#994 is the same race). After
``serialize_heavy_imports()``, an ``import`` statement that names a package in ``HEAVY`` first takes one
process-wide re-entrant lock - before Python takes any module lock, so the lock cannot join a deadlock - and the
first import of that family completes in one thread before another starts (Python 2 had such a global lock):

    >>> serialize_heavy_imports()        # once, at server start (Home.py); later calls do nothing
    True
    >>> import transformers               # thread A: takes the lock; torch is imported inside it too
    >>> from transformers import AutoTokenizer   # thread B, meanwhile: waits at the statement, then finds it whole

Python has no switch for this, so ``builtins.__import__`` and ``importlib.import_module`` are wrapped: other names
go straight through (one string check); heavy ones - absolute, or relative inside a heavy package (transformers
imports its submodules lazily, long after ``import transformers``) - take the lock, then the normal machinery.
"""

from __future__ import annotations

import builtins
import importlib
import threading

HEAVY = frozenset(
    {
        "torch",
        "transformers",
        "sentence_transformers",
        "diffusers",
        "peft",
        "trl",
        "accelerate",
        "datasets",
        "bitsandbytes",
        "safetensors",
        "tokenizers",
        "huggingface_hub",
        "torchvision",
    }
)
LOCK = threading.RLock()
_original_import = builtins.__import__
_original_import_module = importlib.import_module


def _heavy(name: str, package: str | None) -> bool:
    top = (package or "") if name.startswith(".") else name
    return top.partition(".")[0] in HEAVY


def _import(name, globals=None, locals=None, fromlist=(), level=0):
    if _heavy("." if level else name, (globals or {}).get("__package__") or (globals or {}).get("__name__")):
        with LOCK:
            return _original_import(name, globals, locals, fromlist, level)
    return _original_import(name, globals, locals, fromlist, level)


def _import_module(name, package=None):
    if _heavy(name, package):
        with LOCK:
            return _original_import_module(name, package)
    return _original_import_module(name, package)


def serialize_heavy_imports() -> bool:
    """Wrap ``builtins.__import__`` and ``importlib.import_module``; True when installed now, False if it was."""
    with LOCK:
        if builtins.__import__ is _import:
            return False
        builtins.__import__, importlib.import_module = _import, _import_module
        return True
