"""The house's layering, enforced: arrows point down only, and no lab package imports its way round in a circle.

    app_pages/, Home.py  ->  ui/  ->  lab/<lab>/  ->  lab/classroom/  ->  lab/llm/  ->  lab/core/

Every ``import`` statement counts, at module level or inside a function (a lazy import is still a
dependency: it only moves the failure to run time). Each rule below names the file and the import that broke
it, so a newcomer sees at once what to move where (docs/ARCHITECTURE.md, "Adding a lab").
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAB = ROOT / "lab"
LOWER = {"core": 0, "llm": 1, "classroom": 2}  # the platform layers, bottom up
SDKS = (
    "openai",
    "anthropic",
    "ollama",
    "llama_cpp",
    "transformers",
    "chromadb",
    "faiss",
    "torch",
    "diffusers",
    "peft",
    "trl",
    "sentence_transformers",
    "langchain",
    "langchain_core",
    "langchain_chroma",
    "sklearn",
    "modal",
    "bitsandbytes",
    "tiktoken",
    "tokenizers",
    "datasets",
)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute module a file imports, with its line: ``from a.b import c`` gives ``a.b`` and ``a.b.c``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.lineno, node.module))
            out += [(node.lineno, f"{node.module}.{a.name}") for a in node.names]
    return out


def layer_of_module(dotted: str) -> str | None:
    """'core', 'llm', 'classroom', a lab's name, or None for the lab package itself / non-lab modules."""
    parts = dotted.split(".")
    if parts[0] != "lab" or len(parts) < 2:
        return None
    return parts[1] if (LAB / parts[1]).is_dir() else None


def layer_of_file(path: Path) -> str | None:
    rel = path.relative_to(LAB).parts
    return rel[0] if len(rel) > 1 else None


def lab_files() -> list[Path]:
    return sorted(LAB.rglob("*.py"))


def labs() -> list[str]:
    return sorted(p.name for p in LAB.iterdir() if (p / "__init__.py").exists() and p.name not in LOWER)


def test_the_layers_exist_and_every_lab_has_the_same_shape():
    assert {"core", "llm", "classroom"} <= {p.name for p in LAB.iterdir() if p.is_dir()}
    found = labs()
    assert {"prompting", "tokenization", "tools", "pipelines", "rag", "pricer", "finetune", "gguf"} <= set(found)
    for name in found:
        pkg = LAB / name
        assert (pkg / "cli.py").exists(), f"lab/{name}/ has no cli.py: every lab adds its own subcommands there"
        assert ast.get_docstring(ast.parse((pkg / "__init__.py").read_text())), f"lab/{name}/__init__.py: no map"
    flat = sorted(p.name for p in LAB.glob("*.py") if p.name not in ("__init__.py", "__main__.py", "cli.py"))
    assert flat == [], f"modules outside a layer or lab package: {flat}"


def test_arrows_point_down_only():
    bad = []
    for f in lab_files():
        here = layer_of_file(f)
        for line, mod in imports_of(f):
            top = mod.split(".")[0]
            if top in ("streamlit", "ui", "app_pages"):
                bad.append(f"{f.relative_to(ROOT)}:{line} imports {mod} (lab/ never knows the UI)")
            there = layer_of_module(mod)
            if here is None or there is None or there == here:
                continue
            if here in LOWER and (there not in LOWER or LOWER[there] > LOWER[here]):
                bad.append(
                    f"{f.relative_to(ROOT)}:{line} ({here}) imports {mod} ({there}): a lower layer "
                    "must not know a higher one"
                )
    assert not bad, "\n".join(bad)


def test_labs_do_not_import_each_other_in_a_circle():
    edges: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for f in lab_files():
        here = layer_of_file(f)
        if here in LOWER or here is None:
            continue
        for line, mod in imports_of(f):
            there = layer_of_module(mod)
            if there and there != here and there not in LOWER:
                edges[here].add(there)
                where.setdefault((here, there), f"{f.relative_to(ROOT)}:{line}")

    def cycle_from(start: str) -> list[str] | None:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in edges[node]:
                if nxt == start:
                    return path + [start]
                if nxt not in path:
                    stack.append((nxt, path + [nxt]))
        return None

    for name in labs():
        cyc = cycle_from(name)
        assert cyc is None, "lab packages import each other in a circle: " + " -> ".join(
            f"{a} ({where[(a, b)]})" for a, b in zip(cyc, cyc[1:])
        )


@pytest.mark.parametrize("folder", ["ui", "app_pages"])
def test_views_go_through_lab_and_name_what_they_import(folder):
    files = sorted((ROOT / folder).glob("*.py")) + ([ROOT / "Home.py"] if folder == "app_pages" else [])
    bad = []
    for f in files:
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names = node.names if isinstance(node, (ast.Import, ast.ImportFrom)) else []
            mod = getattr(node, "module", None)
            for a in names:
                full = a.name if isinstance(node, ast.Import) else (mod or "")
                if full.split(".")[0] in SDKS:
                    bad.append(f"{f.relative_to(ROOT)}:{node.lineno} imports the SDK {full}: go through lab/")
                if a.asname and len(a.asname) <= 2 and full.split(".")[0] == "lab":
                    bad.append(
                        f"{f.relative_to(ROOT)}:{node.lineno} imports {a.name} as {a.asname!r}: "
                        "name the lab's module by its own name"
                    )
    assert not bad, "\n".join(bad)


def test_pages_are_thin():
    for f in sorted((ROOT / "app_pages").glob("*.py")):
        n = len(f.read_text().splitlines())
        assert n <= 150, f"{f.name} has {n} lines: a page reads widgets, guards, makes one lab call, renders"


def test_fixtures_are_shared_only_through_conftest():
    bad = []
    for f in sorted((ROOT / "tests").rglob("test_*.py")):
        for line, mod in imports_of(f):
            if mod.startswith("tests.test_"):
                bad.append(f"{f.relative_to(ROOT)}:{line} imports {mod}")
    assert not bad, "move shared fixtures and helpers to tests/conftest.py or a helper module:\n" + "\n".join(bad)
