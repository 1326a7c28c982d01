"""LLM preprocessing (the course's week 6 day 2): rewrite each raw description into a short, regular summary.

Scraped descriptions are long and noisy (part numbers, marketing, boilerplate). The course asks a cheap model
for five lines, always the same shape, and trains on those instead:

    Title: Rewritten short precise title
    Category: eg Electronics
    Brand: Brand name
    Description: 1 sentence description
    Details: 1 sentence on features

Here any provider can do it (the local SmolLM2 offline, a frontier model with a key):

    >>> from lab.llm.fake import FakeProvider
    >>> est = estimate(FakeProvider(), texts=["Sony WH-1000XM5 noise cancelling headphones, 30h battery"])
    >>> est["to_rewrite"], est["cost_usd"]                   # shown before anything is sent
    (1, 0.0)
    >>> out = rewrite(FakeProvider(["Title: Sony headphones\\nBrand: Sony"]), ["Sony WH-1000XM5 ..."])   # doctest: +SKIP

Every reply is cached on disk under ``<data_dir>/pricer/rewrites/`` by a hash of (provider, model, system
prompt, text): a rerun, another page session or the CLI never pays twice for the same rewrite. Requests go out
in batches (``batch_size`` at a time, in parallel threads for a remote provider; one at a time for the local
model, which has one llama.cpp context), and the cache is written after every batch, so a stopped run resumes.

``compare`` then cross-validates the same model on the raw text and on the rewrites of the same items.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from lab.core.errors import InputError
from lab.llm.base import Options, Provider, run
from lab.pricer.items import Item

SYSTEM_PROMPT = """Create a concise description of a product. Respond only in this format. Do not include part numbers.
Title: Rewritten short precise title
Category: eg Electronics
Brand: Brand name
Description: 1 sentence description
Details: 1 sentence on features"""
EXPECTED_OUTPUT_TOKENS = 70  # the five lines are ~50-90 tokens (cl100k); max_tokens bounds the worst case
MAX_TOKENS = 160


def raw_text(item: Item) -> str:
    """What is sent: the title and the curated description (the item's text already holds both)."""
    return item.text


def model_id(provider: Provider, model: str | None) -> str:
    return f"{provider.name}/{model or provider.default_model}"


def key(provider: Provider, model: str | None, text: str) -> str:
    h = hashlib.sha256(json.dumps([model_id(provider, model), SYSTEM_PROMPT, text]).encode()).hexdigest()
    return h[:32]


def _folder():
    from lab.core.settings import get_settings

    return get_settings().data_dir / "pricer" / "rewrites"


_LOCK = threading.Lock()


def cached(provider: Provider, model: str | None, text: str) -> str | None:
    path = _folder() / f"{key(provider, model, text)}.json"
    try:
        return json.loads(path.read_text())["summary"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _store(provider: Provider, model: str | None, text: str, summary: str) -> None:
    folder = _folder()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key(provider, model, text)}.json"
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    tmp.write_text(json.dumps({"model": model_id(provider, model), "summary": summary}))
    os.replace(tmp, path)


def messages_for(text: str) -> list[dict]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": text}]


def estimate(
    provider: Provider, model: str | None = None, texts: list[str] | None = None, max_tokens: int = MAX_TOKENS
) -> dict:
    """What a rewrite would send and cost, before sending anything (tokens counted with cl100k_base)."""
    from lab.llm.pricing import cost
    from lab.pricer.items import get_tokenizer

    texts = texts or []
    todo = [t for t in texts if cached(provider, model, t) is None]
    tok = get_tokenizer("cl100k_base")
    overhead = len(tok.encode(SYSTEM_PROMPT)) + 8  # + the chat template's few tokens per message
    tokens_in = sum(len(tok.encode(t)) + overhead for t in todo)
    mid = model or provider.default_model
    expected = cost(mid, tokens_in, EXPECTED_OUTPUT_TOKENS * len(todo), provider.name)
    worst = cost(mid, tokens_in, max_tokens * len(todo), provider.name)
    return {
        "model": model_id(provider, model),
        "items": len(texts),
        "cached": len(texts) - len(todo),
        "to_rewrite": len(todo),
        "input_tokens": tokens_in,
        "output_tokens_expected": EXPECTED_OUTPUT_TOKENS * len(todo),
        "output_tokens_max": max_tokens * len(todo),
        "cost_usd": expected,
        "cost_usd_max": worst,
    }


def rewrite(
    provider: Provider,
    texts: list[str],
    model: str | None = None,
    *,
    batch_size: int = 8,
    options: Options | None = None,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[str]:
    """One summary per text (cached ones reused). ``on_batch(done, total)`` after each batch.

    A provider error (no key, rate limit) stops the run and is raised; what finished before is kept in the cache.
    """
    if batch_size < 1:
        raise InputError("batch_size must be at least 1.")
    options = options or Options(temperature=0.0, max_tokens=MAX_TOKENS, seed=42)
    out: dict[str, str] = {}
    todo = []
    for t in dict.fromkeys(texts):
        hit = cached(provider, model, t)
        if hit is None:
            todo.append(t)
        else:
            out[t] = hit
    # The local model has one llama.cpp context behind a lock: parallel threads would only queue.
    workers = 1 if provider.name in ("local", "fake") else batch_size

    def one(text: str) -> str:
        return run(provider, messages_for(text), model=model, options=options).text.strip()

    done = len(texts) - len(todo)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            for text, summary in zip(batch, pool.map(one, batch)):
                with _LOCK:
                    _store(provider, model, text, summary)
                out[text] = summary
            done += len(batch)
            if on_batch:
                on_batch(done, len(texts))
    return [out[t] for t in texts]


def clean(summary: str, fallback: str) -> str:
    """The summary as training text: the course's five lines, 'Title:' kept; an empty reply falls back to the raw."""
    lines = [ln.strip() for ln in summary.splitlines() if ln.strip()]
    return "\n".join(lines) if lines else fallback


def rewritten_items(items: list[Item], summaries: list[str]) -> list[Item]:
    """The same items with ``text`` replaced by their summaries (prices, titles and categories unchanged)."""
    if len(items) != len(summaries):
        raise InputError(f"{len(items)} items but {len(summaries)} summaries.")
    out = []
    for i, s in zip(items, summaries):
        text = clean(s, i.text)
        # tokens: a word count here (the summary was not cut by a tokenizer); only the 'features' models read it
        out.append(Item(title=i.title, category=i.category, price=i.price, text=text, tokens=len(text.split())))
    return out


def compare(items: list[Item], summaries: list[str], names: list[str], seed: int = 42, folds: int = 5) -> list[dict]:
    """Cross-validated MAE (with 95% CI) of each model on raw text and on the rewrites, same items, same folds."""
    from types import SimpleNamespace

    from lab.pricer.baselines import cross_validate
    from lab.pricer.data import DataConfig
    from lab.pricer.metrics import summary

    rows = []
    for label, its in (("raw", list(items)), ("rewritten", rewritten_items(items, summaries))):
        ds = SimpleNamespace(items=its, config=DataConfig())
        for r in cross_validate(ds, names, seed=seed, folds=folds, persist=False):
            rows.append(summary(r.name, r.result) | {"text": label, "items": r.result["n"]})
    return rows
