"""Renderers for the Tokenization page: pieces as coloured, safely escaped HTML spans, and cached lab calls.

    >>> from lab.tokenization.pieces import Piece
    >>> pieces_html([Piece(15339, b"hello"), Piece(1917, b" world")], show_ws=True)
    '<div class="tok-row"><span class="tok" style="background:#fde68a" title="id 15339">hello</span><span ...'

Every piece goes through ``html.escape`` (a pasted ``<script>`` is shown, never run); the id is in the hover
title, or printed under the piece with ``show_ids``. Special tokens get a dark background so a chat template's
``<|im_start|>`` stands out from the text around it.
"""

from __future__ import annotations

import html

import streamlit as st

from lab.tokenization import analysis
from lab.tokenization.pieces import Piece

PALETTE = ["#fde68a", "#bbf7d0", "#bfdbfe", "#fbcfe8", "#ddd6fe", "#fed7aa", "#a5f3fc"]
CSS = """<style>
.tok-row{font-family:ui-monospace,monospace;font-size:0.92rem;line-height:2.1;white-space:pre-wrap;word-break:break-all}
.tok{border-radius:3px;padding:1px 1px;margin-right:1px;color:#111}
.tok-special{background:#334155!important;color:#fff}
.tok-bytes{font-style:italic;color:#7c2d12}
.tok-id{font-size:0.65rem;color:#555;vertical-align:sub;margin-left:1px}
</style>"""


def _visible(text: str) -> str:
    # a space is drawn as "·", a tab as "→", a newline as "↵" followed by a real line break
    return text.replace(" ", "·").replace("\t", "→").replace("\n", "↵\n")


def pieces_html(pieces: list[Piece], show_ws: bool = False, show_ids: bool = False) -> str:
    spans = []
    for n, p in enumerate(pieces):
        classes = "tok" + (" tok-special" if p.special else "") + (" tok-bytes" if p.text is None else "")
        label = _visible(p.text) if show_ws and p.text is not None and not p.special else p.label
        idtag = f'<span class="tok-id">{p.id}</span>' if show_ids else ""
        spans.append(
            f'<span class="{classes}" style="background:{PALETTE[n % len(PALETTE)]}" '
            f'title="id {p.id}">{html.escape(label)}{idtag}</span>'
        )
    return '<div class="tok-row">' + "".join(spans) + "</div>"


def show_pieces(pieces: list[Piece], show_ws: bool = False, show_ids: bool = False, where=st) -> None:
    where.markdown(CSS + pieces_html(pieces, show_ws, show_ids), unsafe_allow_html=True)


@st.cache_data(max_entries=64, show_spinner="Tokenizing (a huge text takes seconds per tokenizer)...")
def analyse(name: str, text: str, special: bool) -> analysis.Analysis:
    """Cached: toggling whitespace or ids must not re-tokenize a 10 MB paste."""
    return analysis.analyse(name, text, special=special)


def show_analysis(a: analysis.Analysis, show_ws: bool, show_ids: bool, where=st) -> None:
    where.markdown(f"**{a.tokenizer}**")
    where.caption(a.source)
    where.metric("Tokens", f"{a.count:,}")
    where.caption(f"{a.chars_per_token:.2f} characters per token · {a.words_per_token:.2f} words per token")
    show_pieces(a.pieces, show_ws, show_ids, where)
    if a.truncated:
        where.info(f"Showing the first {len(a.pieces):,} of {a.count:,} tokens (all were counted).")
