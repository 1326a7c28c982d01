"""Split documents into chunks: LangChain's character splitter vs its recursive splitter, size and overlap.

``CharacterTextSplitter`` cuts on one separator (blank lines here) and only then packs pieces up to
``chunk_size``; a paragraph longer than that stays whole. ``RecursiveCharacterTextSplitter`` tries blank lines,
then newlines, then spaces, then characters, so every chunk fits. ``chunk_overlap`` repeats the end of one
chunk at the start of the next, so a fact cut in two still appears whole somewhere. Sizes are in characters.

    >>> from langchain_core.documents import Document
    >>> doc = Document(page_content="# T\\n\\nOne two three four five six.", metadata={"source": "s.md", "title": "T"})
    >>> [c.page_content for c in split_documents([doc], ChunkOptions(chunk_size=20, chunk_overlap=8, add_title=False))]
    ['# T', 'One two three four', 'four five six.']

Each chunk keeps its document's metadata plus ``chunk`` (its number within the file), ``start`` (character
offset in the file), ``id`` ('knowledge-base/x.md#3'), ``headings`` (its heading path, 'AquaLedger > Tiers and
pricing (2025)') and ``parent_start``/``parent_end`` (the span of its section, for parent-document retrieval). With ``add_title`` the document's title is put in
front of chunks that do not start with it: a chunk from the middle of a contract then still says which
contract it belongs to, which helps a small embedding model a lot (see the sweep in the Evaluate tab).
"""

from __future__ import annotations

import re
from typing import Literal

from langchain_core.documents import Document
from pydantic import BaseModel, Field, model_validator

from lab.core.errors import InputError


class ChunkOptions(BaseModel):
    """How documents are cut. Descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    splitter: Literal["recursive", "character"] = Field(
        "recursive",
        description="recursive: paragraphs, then lines, then words, so every chunk fits; "
        "character: paragraphs only (a long paragraph stays one oversized chunk).",
    )
    chunk_size: int = Field(
        400,
        ge=20,
        le=4000,
        description="Largest chunk, in characters (MiniLM reads ~256 tokens, about 1,000 characters; the rest is cut off).",
    )
    chunk_overlap: int = Field(
        50,
        ge=0,
        le=1000,
        description="Characters repeated between neighbouring chunks, so a fact cut in two is whole in one of them.",
    )
    add_title: bool = Field(
        True,
        description="Start each chunk with its document's title (a contextual header) so it says what it is about.",
    )
    add_headings: bool = Field(
        False,
        description="Start each chunk with its whole heading path ('AquaLedger > Tiers and pricing (2025)') instead of the title alone.",
    )

    @model_validator(mode="after")
    def _overlap_smaller(self) -> "ChunkOptions":
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        return self

    def tag(self) -> str:
        """A short name for this configuration, used in index names: 'recursive-700-150-t'."""
        return (
            f"{self.splitter}-{self.chunk_size}-{self.chunk_overlap}{'-t' if self.add_title else ''}"
            f"{'-h' if self.add_headings else ''}"
        )


def make_splitter(options: ChunkOptions):
    from langchain_text_splitters import CharacterTextSplitter, RecursiveCharacterTextSplitter

    if options.splitter == "character":
        return CharacterTextSplitter(
            separator="\n\n", chunk_size=options.chunk_size, chunk_overlap=options.chunk_overlap, add_start_index=True
        )
    return RecursiveCharacterTextSplitter(
        chunk_size=options.chunk_size, chunk_overlap=options.chunk_overlap, add_start_index=True
    )


_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t#]*$", re.M)


def headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of every markdown heading, in order.

    >>> headings("# A\\n\\ntext\\n\\n## B\\nmore")
    [(0, 1, 'A'), (11, 2, 'B')]
    """
    return [(m.start(), len(m.group(1)), m.group(2).strip()) for m in _HEADING.finditer(text)]


def heading_path(marks: list[tuple[int, int, str]], offset: int, text_len: int) -> tuple[str, int, int]:
    """The headings above ``offset`` ('AquaLedger > Tiers and pricing (2025)') and the span of the section the
    offset lies in (from its nearest heading to the next heading of the same or a higher level): the *parent*
    that parent-document retrieval hands the model instead of the small chunk.

    >>> marks = headings("# A\\n\\nintro\\n\\n## B\\nb text\\n\\n## C\\nc text")
    >>> heading_path(marks, 14, 36)
    ('A > B', 12, 25)
    """
    stack: list[tuple[int, int, str]] = []
    for m in marks:
        if m[0] > offset:
            break
        stack = [s for s in stack if s[1] < m[1]] + [m]
    path = " > ".join(s[2] for s in stack)
    if not stack:
        return path, 0, (marks[0][0] if marks else text_len)
    start, level = stack[-1][0], stack[-1][1]
    end = next((m[0] for m in marks if m[0] > start and m[1] <= level), text_len)
    return path, start, end


def split_documents(docs: list[Document], options: ChunkOptions | None = None) -> list[Document]:
    """Chunks of every document, in order, each with ``id``, ``chunk``, ``start``, ``headings`` (its heading path)
    and ``parent_start``/``parent_end`` (its section's span in the file) in its metadata."""
    options = options or ChunkOptions()
    if not docs:
        raise InputError("There are no documents to chunk: load the knowledge base first.")
    splitter = make_splitter(options)
    out = []
    for doc in docs:
        pieces = splitter.split_documents([doc])
        title = doc.metadata.get("title", "")
        marks = headings(doc.page_content)
        for i, piece in enumerate(pieces):
            meta = dict(piece.metadata)
            meta["start"] = meta.pop("start_index", -1)
            meta["chunk"] = i
            meta["id"] = f"{meta['source']}#{i}"
            path, p0, p1 = heading_path(marks, max(0, meta["start"]), len(doc.page_content))
            meta["headings"], meta["parent_start"], meta["parent_end"] = path or title, p0, p1
            text = piece.page_content
            header = path if options.add_headings and path else title if options.add_title else ""
            if header and not text.lstrip("# ").startswith(header.split(" > ")[0]):
                text = f"{header}\n{text}"
            out.append(Document(page_content=text, metadata=meta, id=meta["id"]))
    return out


def parent_text(doc_text: str, metadata: dict) -> str:
    """The section a chunk came from (``parent_start:parent_end``), as written in the file."""
    p0, p1 = int(metadata.get("parent_start", 0)), int(metadata.get("parent_end", len(doc_text)))
    return doc_text[p0:p1].strip()


def overlap_between(a: str, b: str) -> str:
    """The longest end of ``a`` that ``b`` starts with: the text the overlap repeated ('' when none).

    >>> overlap_between("one two three", "two three four")
    'two three'
    """
    for n in range(min(len(a), len(b)), 0, -1):
        if b.startswith(a[-n:]):
            return a[-n:]
    return ""
