"""Load the knowledge base: every ``knowledge-base/<doc_type>/<name>.md`` becomes one langchain-core Document.

The folder name *is* the document type, and ``source`` is the path relative to the repository root, so a
retrieved chunk can always be traced back to the file a person can open:

    >>> docs = load_documents()
    >>> d = next(d for d in docs if d.metadata["source"].endswith("products/aqualedger.md"))
    >>> d.metadata["source"], d.metadata["doc_type"], d.metadata["title"]
    ('knowledge-base/products/aqualedger.md', 'products', 'AquaLedger')
    >>> len(d.metadata["sha256"])  # the content hash that makes re-indexing incremental
    64

The course uses LangChain's ``DirectoryLoader`` + ``TextLoader``; those live in ``langchain-community`` (being
sunset), and reading UTF-8 markdown files is one line, so we build the Documents ourselves. We only *read* the
knowledge base: nothing in this lab ever writes to it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from langchain_core.documents import Document

from lab.core.errors import InputError
from lab.core.settings import REPO_ROOT

KB_DIR = REPO_ROOT / "knowledge-base"


def content_hash(text: str) -> str:
    """SHA-256 of a file's text (hex). Same text -> same hash -> no need to embed it again."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _title(text: str, fallback: str) -> str:
    for line in text.splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return fallback


def load_documents(root: Path | str | None = None) -> list[Document]:
    """All markdown files under ``root`` (default: the repo's knowledge-base/), sorted by path.

    ``source`` is relative to the folder *above* ``root`` ('knowledge-base/products/x.md' for the real one),
    so a copy of the knowledge base elsewhere (tests) yields the same sources.
    """
    root = Path(root) if root else KB_DIR
    if not root.is_dir():
        raise InputError(f"No knowledge base at {root}: expected folders of markdown files (one per doc_type).")
    docs = []
    for path in sorted(root.glob("*/*.md")):
        text = path.read_text(encoding="utf-8")
        if not text.strip():
            continue  # an empty file has nothing to retrieve
        docs.append(
            Document(
                page_content=text,
                metadata={
                    "source": path.relative_to(root.parent).as_posix(),
                    "doc_type": path.parent.name,
                    "title": _title(text, path.stem),
                    "sha256": content_hash(text),
                },
            )
        )
    if not docs:
        raise InputError(f"The knowledge base at {root} has no markdown files in sub-folders (<doc_type>/<name>.md).")
    return docs


def doc_types(docs: list[Document]) -> dict[str, int]:
    """How many documents of each type: {'company': 10, 'contracts': 20, ...}."""
    out: dict[str, int] = {}
    for d in docs:
        out[d.metadata["doc_type"]] = out.get(d.metadata["doc_type"], 0) + 1
    return dict(sorted(out.items()))
