"""Strict price cells (issue 18): sign, exponent, decimal comma, ranges, currencies; refused rows are named."""

from __future__ import annotations

import json

import pytest

from lab.core.errors import InputError
from lab.pricer import data as D
from lab.pricer.prices import AMBIGUOUS, CURRENCY, MISSING, NEGATIVE, NO_PARSE, RANGE, check_price, read_price


@pytest.mark.parametrize(
    "text, price",
    [
        ("$1,499.99 ", 1499.99),
        ("39.99", 39.99),
        ("$ 39.99", 39.99),
        ("US$ 1,299.00", 1299.0),
        ("12 USD", 12.0),
        ("1e3", 1000.0),
        ("2.5E2", 250.0),
        ("1E-2", 0.01),  # an exponent means what it says
        ("12,5", 12.5),
        ("12,50", 12.5),  # a decimal comma
        ("1,499", 1499.0),
        ("1,234,567.89", 1234567.89),  # thousands commas
        ("1.499,99", 1499.99),
        ("1.499.000", 1499000.0),  # European style
        ("0.125", 0.125),
        ("$.99", 0.99),
        ("12.", 12.0),
        ("+5", 5.0),
        ("-0", 0.0),
        (39, 39.0),
        (12.5, 12.5),
        (1e3, 1000.0),
    ],
)
def test_clean_prices(text, price):
    assert check_price(text) == (price, None)
    assert read_price(text) == price


@pytest.mark.parametrize(
    "text, reason",
    [
        ("-443", NEGATIVE),
        ("$-443", NEGATIVE),
        ("- 5", NEGATIVE),
        ("(12.00)", NEGATIVE),
        ("\u221212", NEGATIVE),
        (-443.0, NEGATIVE),
        (-1, NEGATIVE),
        ("1.499", AMBIGUOUS),  # 1499 or 1.499? refused, never guessed
        ("$299.99through-$449.99", RANGE),
        ("$10 - $20", RANGE),
        ("10 to 20", RANGE),
        ("€12,50", CURRENCY),
        ("12 EUR", CURRENCY),
        ("£5", CURRENCY),
        ("1,49.99", NO_PARSE),
        ("12,3456", NO_PARSE),
        ("1.2.3", NO_PARSE),
        ("1 499", NO_PARSE),
        ("call us", NO_PARSE),
        ("inf", NO_PARSE),
        ("nan", NO_PARSE),
        (float("inf"), NO_PARSE),
        (True, NO_PARSE),
        ("1e", NO_PARSE),
        ("", MISSING),
        ("   ", MISSING),
        (None, MISSING),
        (float("nan"), MISSING),
    ],
)
def test_refused_prices_say_why(text, reason):
    value, why = check_price(text)
    assert value is None and why.startswith(reason)
    with pytest.raises(InputError, match=reason.split()[-1]):
        read_price(text)


def test_ambiguous_dot_names_both_readings():
    assert (
        check_price("1.499")[1] == f"{AMBIGUOUS}: 1.499 could be 1499 (a European thousands dot) or 1.499; "
        "write 1499 or 1.50"
    )


def test_upload_refuses_bad_prices_and_names_each_row():
    csv = (
        "title,description,price\n"
        "Desk lamp,LED lamp with dimmer and USB port,-443\n"
        "Office chair,Mesh office chair with lumbar support,1e3\n"
        'Monitor arm,Gas spring monitor arm for two screens,"12,5"\n'
        'Keyboard,Mechanical keyboard with brown switches,"1.499,99"\n'
        "Mouse,Wireless mouse with a silent click,1.499\n"
        "Headset,Gaming headset with a boom microphone,€30\n"
    ).encode()
    df = D.read_upload("shop.csv", csv)
    assert df["price"].tolist()[1:4] == [1000.0, 12.5, 1499.99]
    ds = D.build(df, D.DataConfig(tokenizer="cl100k_base", min_chars=10, max_price=5000, test_items=1))
    assert ds.rejected == {NEGATIVE: 1, AMBIGUOUS: 1, CURRENCY: 1}
    assert [p["row"] for p in ds.problems] == [1, 5, 6]
    lines = ds.problem_lines()
    assert lines[0] == "row 1 ('Desk lamp'): price '-443' refused: price is negative"
    assert "could be 1499" in lines[1] and "not in US dollars" in lines[2]
    assert ds.stats()["price_refused"] == lines
    assert sorted(i.price for i in ds.items) == [12.5, 1000.0, 1499.99]  # never 443, 1.0 or 12.0


def test_jsonl_numbers_are_checked_too():
    lines = "\n".join(
        json.dumps({"title": f"Item {i}", "description": "A thing with many words in it", "price": p})
        for i, p in enumerate([5, -3, "1e2", None])
    ).encode()
    df = D.read_upload("items.jsonl", lines)
    assert df["price"].tolist()[:1] == [5.0] and df["price"].tolist()[2] == 100.0
    assert df["price_problem"].fillna("").tolist() == ["", NEGATIVE, "", MISSING]


def test_shop_data_keeps_its_counts():
    """The strict reader changes nothing on the offline shop data: ranges dropped, the rest parse."""
    df = D.load_offline()
    assert df["price"].notna().sum() == 628
    reasons = df["price_problem"].dropna().value_counts().to_dict()
    assert reasons.get(RANGE) == 14 and sum(reasons.values()) == 15
