"""A piece is an id and the bytes it stands for; a tokenizer is anything that encodes, decodes and names its pieces.

>>> Piece(15339, b"hello").label, Piece(1917, b" world").label
('hello', ' world')
>>> Piece(1, bytes([0xF0, 0x9F])).label          # not valid UTF-8 on its own: shown as bytes
'<0xF0 0x9F>'
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from lab.core.errors import ProviderUnavailable


@dataclass(frozen=True)
class Piece:
    """One token: its id and the exact bytes it stands for (``label`` shows bytes when they are not UTF-8)."""

    id: int
    bytes: bytes
    special: bool = False

    @property
    def text(self) -> str | None:
        try:
            return self.bytes.decode("utf-8")
        except UnicodeDecodeError:
            return None

    @property
    def label(self) -> str:
        t = self.text
        return t if t is not None else "<" + " ".join(f"0x{b:02X}" for b in self.bytes) + ">"

    @property
    def decoded(self) -> str:
        """What the reference libraries' ``decode([id])`` returns: invalid bytes become U+FFFD."""
        return self.bytes.decode("utf-8", errors="replace")


class Tokenizer(Protocol):
    """What every adapter offers. ``cuts_at_newlines``: a cut between ``x\\n`` and a non-space character never
    changes the tokens (true of the regex pre-tokenizers of all built-ins), so huge text may be encoded in chunks."""

    name: str
    source: str
    vocab_size: int
    cuts_at_newlines: bool

    def encode(self, text: str, *, parse_special: bool = False, add_special: bool = False) -> list[int]: ...
    def token_bytes(self, token_id: int) -> bytes: ...  # KeyError for an id the vocabulary does not use
    def decode(self, ids: list[int]) -> str: ...
    def special_tokens(self) -> dict[int, str]: ...
    def chat_template(self, messages: list[dict], add_generation_prompt: bool) -> str | None: ...


def _need(asset: str) -> Path:
    """The path of an offline asset, or ProviderUnavailable naming the install line that fixes it."""
    from lab.core import assets

    path = assets.path_of(asset)
    if path is None:
        raise ProviderUnavailable(assets.fix_for(asset))
    return path
