"""One product -> one curated ``Item``: scrub the noise, cut to a token budget, build the two prompts.

This is the course's ``Item`` class (week 6), with the tokenizer a choice instead of Llama 3.1:

    >>> cur = Curation(tokenizer="cl100k_base", min_chars=10, max_tokens=12)
    >>> item = make_item("Sony WH-1000XM5 Headphones", "Model: WH1000XM5/B  Noise cancelling, 30h battery",
    ...                  348.0, "Headphones", cur)
    >>> print(item.prompt)
    How much does this cost to the nearest dollar?
    <BLANKLINE>
    Sony Headphones
    Model Noise cancelling, 30h battery
    <BLANKLINE>
    Price is $348.00
    >>> item.test_prompt().endswith("Price is $"), item.completion
    (True, '348.00')

What went: ``WH-1000XM5`` and ``WH1000XM5/B`` (words of 7+ characters holding a digit are part numbers,
the course's rule), the colon (punctuation noise); ``30h`` stays (short words with digits carry meaning).
The text is then cut to ``max_tokens`` tokens of the chosen tokenizer and decoded back, so every prompt has
a known, bounded length: what a fine-tune's memory plan and an API bill are computed from.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from pydantic import BaseModel, Field

from lab.core.errors import InputError
from lab.core.once import once

QUESTION = "How much does this cost to the nearest dollar?"
PREFIX = "Price is $"
# The course's list of boilerplate fragments (Amazon's "details" field) plus retail ones seen in shop data.
REMOVALS = [
    '"Batteries Included?": "No"',
    '"Batteries Included?": "Yes"',
    '"Batteries Required?": "No"',
    '"Batteries Required?": "Yes"',
    "By Manufacturer",
    "Item",
    "Date First",
    "Package",
    "Number of",
    "Best Sellers",
    "Product ",
    "™",
    "®",
    "Allstate 3-Year Protection Plan Bundle Included for 5 Years of Total Coverage*",
]
TOKENIZERS = ("smollm2", "cl100k_base", "o200k_base")


class Curation(BaseModel):
    """How raw products become items. Defaults fit the offline shop data (short feature lists)."""

    model_config = {"extra": "forbid"}

    min_chars: int = Field(
        40,
        ge=0,
        le=2000,
        description="Drop products whose title + description is shorter than "
        "this (characters, after scrubbing): too little text to price from. The course used 300 on "
        "Amazon's long descriptions.",
    )
    max_tokens: int = Field(
        160,
        ge=8,
        le=2048,
        description="Cut each product's text to this many tokens of the chosen "
        "tokenizer (the course: 160 Llama tokens), then decode it back to text.",
    )
    tokenizer: Literal["smollm2", "cl100k_base", "o200k_base"] = Field(
        "smollm2",
        description="Whose tokens count the budget: SmolLM2 (the model the Fine-tune lab trains) or "
        "OpenAI's cl100k_base / o200k_base (tiktoken).",
    )
    min_price: float = Field(1.0, ge=0.0, le=100_000, description="Drop products cheaper than this (US dollars).")
    max_price: float = Field(
        999.49,
        ge=1.0,
        le=100_000,
        description="Drop products dearer than this (US dollars). The "
        "course kept $0.50 to $999.49, so every price is at most three digits.",
    )


# ---------------------------------------------------------------------------------------------- tokenizers
class Tokenizer(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


class _HF:
    """transformers' AutoTokenizer, without the special tokens a chat template would add."""

    def __init__(self, tok) -> None:
        self.tok = tok

    def encode(self, text: str) -> list[int]:
        return self.tok.encode(text, add_special_tokens=False)

    def decode(self, ids: list[int]) -> str:
        return self.tok.decode(ids, skip_special_tokens=True)


def get_tokenizer(name: str = "smollm2") -> Tokenizer:
    """Load once per process (thread-safe). SmolLM2: the prepared transformers copy, else the GGUF's own vocab."""
    if name not in TOKENIZERS:
        raise InputError(f"Unknown tokenizer {name!r}; choose one of: {', '.join(TOKENIZERS)}.")
    return _load_tokenizer(name)


@once
def _load_tokenizer(name: str) -> Tokenizer:
    from lab.core import assets
    from lab.core.tokenizers import auto_tokenizer, tiktoken_encoding

    if name == "smollm2":
        hf = assets.path_of("smollm2-hf")
        if hf is not None:
            return _HF(auto_tokenizer(str(hf)))
        gguf = assets.smollm2_gguf()
        if gguf is None:
            raise InputError(assets.fix_for("smollm2-gguf"))
        # A GGUF carries its vocabulary: no conversion of the weights needed just to count tokens (~6 s).
        return _HF(auto_tokenizer(str(gguf.parent), gguf_file=gguf.name))
    return tiktoken_encoding(name)


# ---------------------------------------------------------------------------------------------- scrubbing
_PUNCT = re.compile(r'[:\[\]"{}【】\s]+')


def scrub(text: str) -> str:
    """The course's scrub: punctuation noise to spaces, then drop part-number-like words.

    >>> scrub('Model: "ABC12345X" 4K TV, 55 inch')
    'Model 4K TV, 55 inch'
    """
    for junk in REMOVALS:
        text = text.replace(junk, " ")
    text = _PUNCT.sub(" ", text).strip()
    text = text.replace(" ,", ",").replace(",,,", ",").replace(",,", ",")
    # A word of 7+ characters with a digit in it is almost always a SKU / part number: noise to a pricer,
    # and expensive in tokens (SmolLM2 spends one token per digit).
    return " ".join(w for w in text.split(" ") if len(w) < 7 or not any(c.isdigit() for c in w))


# ---------------------------------------------------------------------------------------------- the item
@dataclass
class Item:
    """A curated product: ``text`` is the scrubbed, token-cut title + description the prompts are made of."""

    title: str
    category: str
    price: float
    text: str
    tokens: int

    @property
    def prompt(self) -> str:
        """The training prompt, price included (to the nearest dollar, always '.00', as the course)."""
        return f"{QUESTION}\n\n{self.text}\n\n{PREFIX}{self.completion}"

    @property
    def completion(self) -> str:
        return f"{round(self.price)}.00"

    def test_prompt(self) -> str:
        """The same prompt without the price: what a model is asked at test time, ending with 'Price is $'."""
        return f"{QUESTION}\n\n{self.text}\n\n{PREFIX}"

    def to_dict(self) -> dict:
        return asdict(self)


def make_item(
    title: str,
    description: str,
    price: float,
    category: str = "",
    cur: Curation | None = None,
    tokenizer: Tokenizer | None = None,
) -> Item:
    """Curate one product; raise ``InputError`` naming the reason when it does not qualify."""
    cur = cur or Curation()
    title = (title or "").strip()
    if not title:
        raise InputError("empty title")
    if price is None or price != price:  # NaN: the price text did not parse
        raise InputError("price does not parse")
    if not cur.min_price <= price <= cur.max_price:
        raise InputError(f"price ${price:,.2f} outside ${cur.min_price:,.2f}..${cur.max_price:,.2f}")
    head, body = scrub(title), scrub(description or "")
    if not body:
        raise InputError("empty description")
    text = f"{head}\n{body}"
    if len(text) < cur.min_chars:
        raise InputError(f"fewer than {cur.min_chars} characters")
    tok = tokenizer or get_tokenizer(cur.tokenizer)
    # Cut the characters first (the course's CEILING_CHARS = 7 x max_tokens): no need to tokenize a novel.
    ids = tok.encode(text[: cur.max_tokens * 7])
    if len(ids) > cur.max_tokens:
        ids = ids[: cur.max_tokens]
        text = tok.decode(ids).strip()
    return Item(title=title, category=category or "", price=float(price), text=text, tokens=len(ids))
