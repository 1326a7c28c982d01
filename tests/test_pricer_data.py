"""Data sources, the seeded split, balancing, uploads with missing columns, export, and the Fine-tune contract."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from lab.core.errors import InputError, ProviderUnavailable
from lab.pricer import data as D

CFG = dict(tokenizer="cl100k_base", min_chars=10)


def raw(n: int = 10, cats=("A", "B")) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "title": [f"Product number {i}" for i in range(n)],
            "description": [f"A useful gadget of kind {i} with features" for i in range(n)],
            "price": [10.0 + 10 * i for i in range(n)],
            "category": [cats[i % len(cats)] for i in range(n)],
            "price_text": [""] * n,
        }
    )


def test_shop_price_text():
    assert D.shop_price("$1,499.99 ") == 1499.99
    assert D.shop_price("$299.99through-$449.99") is None  # a range is ambiguous: dropped
    assert D.shop_price(float("nan")) is None and D.shop_price("call") is None and D.shop_price(12) == 12.0
    assert D.shop_price("-443") is None and D.shop_price("1e3") == 1000.0 and D.shop_price("12,5") == 12.5


def test_offline_data_counts_and_reasons():
    df = D.load_offline()
    assert len(df) == 643 and set(df.columns) >= {"title", "description", "price", "category"}
    ds = D.build(df, D.DataConfig(**CFG))
    s = ds.stats()
    assert s["items"] == s["train"] + s["test"] and s["items"] + s["rejected"] == 643
    assert s["rejected_by_reason"]["price is a range"] == 14 and s["rejected_by_reason"]["price is missing"] == 1
    assert s["rejected_by_reason"]["duplicate title"] > 0
    assert 1.0 <= s["price"]["min"] and s["price"]["max"] <= 999.49
    assert len({i.title for i in ds.items}) == len(ds.items)  # no product in both train and test


def test_split_is_seeded_disjoint_and_sized():
    a = D.build(raw(20), D.DataConfig(**CFG, seed=1))
    b = D.build(raw(20), D.DataConfig(**CFG, seed=1))
    c = D.build(raw(20), D.DataConfig(**CFG, seed=2))
    assert [i.title for i in a.test] == [i.title for i in b.test] != [i.title for i in c.test]
    assert len(a.test) == 4 and len(a.train) == 16
    assert not {i.title for i in a.test} & {i.title for i in a.train}
    assert len(D.build(raw(20), D.DataConfig(**CFG, test_items=7)).test) == 7


def test_test_set_larger_than_data_is_refused():
    with pytest.raises(InputError, match="only 10 items were curated.*at most 9"):
        D.build(raw(10), D.DataConfig(**CFG, test_items=10))


def test_category_balancing_caps_each_category():
    ds = D.build(raw(12, cats=("A", "A", "A", "B")), D.DataConfig(**CFG, max_per_category=3))
    counts = pd.Series([i.category for i in ds.items]).value_counts().to_dict()
    assert counts == {"A": 3, "B": 3} and ds.rejected["category balancing"] == 6


def test_bad_rows_are_counted_not_fatal():
    df = raw(6)
    df.loc[0, "price"] = None
    df.loc[1, "description"] = ""
    df.loc[2, "title"] = df.loc[3, "title"]
    ds = D.build(df, D.DataConfig(**CFG, test_items=1))
    assert ds.rejected == {"price does not parse": 1, "empty description": 1, "duplicate title": 1}
    assert len(ds.items) == 3


def test_nothing_left_is_a_clear_error():
    with pytest.raises(InputError, match="survived curation"):
        D.build(raw(5), D.DataConfig(**CFG, min_price=5000, max_price=6000))
    with pytest.raises(InputError, match="minimum price"):
        D.build(raw(5), D.DataConfig(**CFG, min_price=600, max_price=500))


def test_upload_csv_and_jsonl():
    csv = (
        b"Title,Description,Price,Category\nDesk lamp,LED lamp with dimmer and USB port,$39.99,Home\n"
        b'Office chair,Mesh office chair with lumbar support,"$1,199.00",Home\n'
    )
    df = D.read_upload("shop.csv", csv)
    assert list(df["price"]) == [39.99, 1199.0] and list(df["category"]) == ["Home", "Home"]
    lines = "\n".join(
        json.dumps({"title": f"Item {i}", "description": "A thing with many words in it", "price": 5 + i})
        for i in range(4)
    ).encode()
    df = D.read_upload("items.jsonl", lines)
    assert len(df) == 4 and df["price"].tolist() == [5.0, 6.0, 7.0, 8.0]
    assert len(D.build(df, D.DataConfig(**CFG, test_items=1)).train) == 3


def test_upload_missing_columns_are_named():
    with pytest.raises(InputError) as e:
        D.read_upload("bad.csv", b"name,cost\nlamp,3\n")
    msg = str(e.value)
    assert "title, description, price" in msg and "it has: name, cost" in msg
    with pytest.raises(InputError, match="lacks the column.s. price;"):
        D.read_upload("bad.jsonl", b'{"title": "x", "description": "y"}\n')


def test_amazon_says_the_hub_is_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE"):
        D.load_amazon("Appliances")
    with pytest.raises(InputError, match="Unknown category"):
        D.load_amazon("Shoes")


@pytest.mark.slow  # the offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_prompt_completion_contract():
    rows = D.prompt_completion("train", n=5)
    assert len(rows) == 5 and rows == D.prompt_completion("train", n=5, seed=42)
    for r in rows:
        assert set(r) >= {"prompt", "completion", "price", "title", "category"}
        assert r["prompt"].startswith("How much does this cost to the nearest dollar?\n\n")
        assert r["prompt"].endswith("Price is $") and r["completion"] == f"{round(r['price'])}.00"
    test = D.prompt_completion("test")
    assert not {r["title"] for r in test} & {r["title"] for r in D.prompt_completion("train")}
    assert [r["title"] for r in D.prompt_completion("test", seed=7)] != [r["title"] for r in test]
    with pytest.raises(InputError, match="split"):
        D.prompt_completion("validation")


def test_export_round_trip(tmp_settings):
    from datasets import load_from_disk

    ds = D.build(raw(10), D.DataConfig(**CFG, test_items=2))
    out = D.export(ds)
    back = load_from_disk(out["path"])
    assert back["train"].num_rows == 8 and back["test"].num_rows == 2
    row = back["test"][0]
    assert row["text"] == row["prompt"] + row["completion"] and row["prompt"].endswith("Price is $")


def test_push_needs_a_token(tmp_settings, monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    with pytest.raises(InputError, match="HF_TOKEN"):
        D.export(D.build(raw(10), D.DataConfig(**CFG)), hub_repo="me/prices")


def test_stats_report_the_cross_validation_sizes():
    ds = D.build(raw(20), D.DataConfig(**CFG, cv_folds=4))
    cv = ds.stats()["cv"]
    assert cv == {"folds": 4, "test_items": 20, "train_items_per_fold": 15}


def test_price_weighted_sample_prefers_dear_items():
    df = raw(40)
    ds = D.build(df, D.DataConfig(**CFG, weighted_sample=10))
    assert len(ds.items) == 10 and ds.rejected["price-weighted sample"] == 30
    prices = sorted(i.price for i in ds.items)
    assert sum(prices) / 10 > sum(df["price"]) / 40 + 50  # dear items are drawn far more often
    assert [i.title for i in D.build(df, D.DataConfig(**CFG, weighted_sample=10)).items] == [i.title for i in ds.items]
    from lab.pricer.items import Item

    its = [Item(str(i), "Automotive" if i % 2 else "Toys", 100.0 + i, "t", 1) for i in range(200)]
    picked = D.price_weighted_sample(its, 40, seed=3)
    # the course's factor: Automotive weighs 0.05 of a Toys item of the same price
    assert sum(i.category == "Automotive" for i in picked) < 10


def test_course_rows_map_the_hub_items():
    rows = [
        {
            "title": "Widget",
            "category": "Toys_and_Games",
            "price": 19.99,
            "full": "Widget long scraped text",
            "summary": "Title: Widget\nBrand: Acme\nDescription: a widget",
            "weight": 1.0,
            "id": 1,
        },
        {"title": "Gizmo", "category": "Electronics", "price": -5, "full": "x", "summary": None},
    ]
    df = D.course_rows(rows)
    assert df.loc[0, "description"] == "Brand: Acme\nDescription: a widget" and df.loc[0, "price"] == 19.99
    assert df.loc[1, "description"] == "x" and df.loc[1, "price_problem"] == "price is negative"
    assert D.course_rows(rows, text="full").loc[0, "description"] == "Widget long scraped text"
    with pytest.raises(InputError, match="text must be"):
        D.course_rows(rows, text="other")


def test_course_hub_data_says_the_hub_is_off(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE"):
        D.load_course_items("ed-donner/items_lite")
    with pytest.raises(InputError, match="Unknown course data set"):
        D.load_course_items("me/other")
    with pytest.raises(InputError, match="split"):
        D.load_course_items("ed-donner/items_lite", split="dev")
