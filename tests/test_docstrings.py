"""Every module opens with a docstring that teaches, and every worked example in one still holds.

One idea per module (docs/ARCHITECTURE.md): its docstring says what it is for, often with an input -> output
example that doctest runs here, so the examples cannot drift from the code they describe.
"""

from __future__ import annotations

import ast
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted(
    ".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "lab").rglob("*.py") if p.name != "__main__.py"
)


def test_every_module_opens_with_a_docstring():
    missing = [
        m
        for m in MODULES
        if not ast.get_docstring(ast.parse((ROOT / Path(*m.split("."))).with_suffix(".py").read_text()))
    ]
    missing = [m for m in missing if not m.endswith("__init__")] + [
        m for m in missing if m.endswith("__init__") and m.count(".") > 1
    ]
    assert not missing, f"modules without a docstring: {missing}"


# Modules whose examples describe a run that needs more than an import (a built server, a trained run, a GGUF
# on disk, the class's arena file) and were written as illustrations, not doctests. Each one is a to-do: make
# its example self-contained (a tmp folder, the fake provider) and take it off this list.
ILLUSTRATIONS = {
    "lab.agents.cycle",
    "lab.agents.ensemble",
    "lab.classroom.identity",
    "lab.classroom.queue",
    "lab.classroom.sessions",
    "lab.classroom.warmup",
    "lab.core.assets",
    "lab.core.gguf_check",
    "lab.core.llamacpp_build",
    "lab.evaluate.arena",
    "lab.evaluate.models",
    "lab.finetune.evaluate",
    "lab.finetune.runner",
    "lab.gguf.bench",
    "lab.gguf.build",
    "lab.gguf.convert",
    "lab.gguf.fit",
    "lab.gguf.ladder",
    "lab.gguf.models",
    "lab.gguf.quality",
    "lab.gguf.quantize",
    "lab.gguf.sdist",
    "lab.gguf.server",
    "lab.gguf.steps",
    "lab.llm.llama_server",
    "lab.pipelines.diffusion",
}


@pytest.mark.slow  # some examples load the offline tokenizers and llama.cpp vocabularies
@pytest.mark.parametrize("name", [m for m in MODULES if m not in ILLUSTRATIONS])
def test_worked_examples_hold(name, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # the examples describe the offline lab
    module = importlib.import_module(name.removesuffix(".__init__"))
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed (see the output)"
