"""LLM pricers: ask any provider for a price and parse the reply; with RAG, show it similar priced items first.

    >>> from lab.llm.fake import FakeProvider
    >>> from lab.pricer.data import offline
    >>> ds = offline()
    >>> run = price_items(FakeProvider(["$349.99", "I cannot know that."]), ds.test[:2])
    >>> [g.price for g in run.guesses], run.result["misses"]
    ([349.99, None], 1)

A reply with no number is a miss (red, scored as $0): it is shown, never replaced by an invented price.

The messages follow the course (week 7/8): a system prompt asking for the price only, then the item's test
prompt. The RAG pricer (week 8's frontier agent) puts the ``k`` nearest training items, by MiniLM cosine
similarity (scikit-learn ``NearestNeighbors``), with their prices before the question:

    To provide some context, here are some other items that might be similar to the item you need to estimate.

    Potentially related product:
    Samsung 55" Crystal UHD TV ...
    Price is $399.99
    ...
    And now the question for you:

    How much does this cost?
    ...

SmolLM2-135M (the offline default) often just copies a price from the context, or writes no number at all:
it shows the mechanics, not frontier quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from lab.core.errors import InputError
from lab.llm.base import Options, Provider, run
from lab.pricer.items import PREFIX, Item
from lab.pricer.metrics import parse_price, score

SYSTEM = "You estimate prices of items. Reply only with the price, no explanation."
CONTEXT_HEAD = (
    "To provide some context, here are some other items that might be similar to the item you need to estimate."
)


def question(item: Item) -> str:
    """The test prompt, as the course asked frontier models: no 'to the nearest dollar', no dangling 'Price is $'."""
    return item.test_prompt().replace(" to the nearest dollar", "").removesuffix(PREFIX).strip()


def messages_for(item: Item, similar: list[Item] | None = None) -> list[dict]:
    user = question(item)
    if similar:
        shots = "".join(f"Potentially related product:\n{s.text}\n{PREFIX}{s.price:.2f}\n\n" for s in similar)
        user = f"{CONTEXT_HEAD}\n\n{shots}And now the question for you:\n\n{user}"
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


class SimilarItems:
    """Nearest training items by MiniLM cosine similarity (brute force over a few hundred vectors is instant)."""

    def __init__(self, train: list[Item]) -> None:
        from sklearn.neighbors import NearestNeighbors

        from lab.pricer.baselines import embed

        if not train:
            raise InputError("RAG needs training items to retrieve from.")
        self.train = train
        self.nn = NearestNeighbors(metric="cosine").fit(embed([i.text for i in train]))

    def find(self, item: Item, k: int = 5) -> list[Item]:
        from lab.pricer.baselines import embed

        k = max(1, min(k, len(self.train)))
        _, idx = self.nn.kneighbors(embed([item.text]), n_neighbors=k)
        return [self.train[i] for i in idx[0] if self.train[i].text != item.text]


@dataclass
class Guess:
    item: Item
    reply: str
    price: float | None


@dataclass
class LLMRun:
    name: str
    guesses: list[Guess]
    result: dict

    @property
    def preds(self) -> list[float | None]:
        return [g.price for g in self.guesses]


def price_items(
    provider: Provider,
    items: list[Item],
    *,
    model: str | None = None,
    options: Options | None = None,
    similar: SimilarItems | None = None,
    k: int = 5,
    on_guess: Callable[[int, Guess], None] | None = None,
) -> LLMRun:
    """Price each item with one request; a provider error (no key, server down) stops the run and is raised."""
    if not items:
        raise InputError("No items to price: the test set is empty.")
    # Greedy and short: a price needs a handful of tokens, and a rerun should give the same scoreboard.
    options = options or Options(temperature=0.0, max_tokens=16, seed=42)
    guesses = []
    for i, item in enumerate(items):
        context = similar.find(item, k) if similar else None
        reply = run(provider, messages_for(item, context), model=model, options=options).text
        guess = Guess(item, reply, parse_price(reply))
        guesses.append(guess)
        if on_guess:
            on_guess(i, guess)
    name = f"{provider.name}/{model or provider.default_model}" + (f" + RAG (k={k})" if similar else "")
    return LLMRun(name, guesses, score([i.price for i in items], [g.price for g in guesses]))


def rag_neighbours_price(similar: SimilarItems, items: list[Item], k: int = 5) -> list[float]:
    """No LLM at all: the mean price of the k nearest training items (what RAG alone already knows)."""
    return [float(np.mean([s.price for s in similar.find(it, k)])) for it in items]
