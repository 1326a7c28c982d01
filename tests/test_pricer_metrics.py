"""The course's Tester: price parsing, colours at their thresholds, MAE / RMSLE / hit rate, the leaderboard file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lab.core.errors import InputError
from lab.pricer.metrics import (
    BANDS,
    COURSE_REFERENCE,
    band_of,
    bootstrap_ci,
    color_for,
    error_by,
    leaderboard_path,
    load_leaderboard,
    parse_price,
    record,
    score,
    summary,
    with_ci,
)


@pytest.mark.parametrize(
    "text, price",
    [
        ("$1,299.50", 1299.5),
        ("Price is $129.00", 129.0),
        ("129", 129.0),
        ("about 45 dollars", 45.0),
        ("$ 12.5", 12.5),
        ("It costs $2,000 or $3,000", 2000.0),
        ("   $.99", 0.99),
        ("1,234,567.8", 1234567.8),
        ("I think 49.99.", 49.99),
        ("The 2022 model with 16GB costs $449.99", 449.99),
        ("-12", 12.0),
        ("no idea", None),
        ("", None),
        (None, None),
        ("$", None),
        ("one hundred", None),
    ],
)
def test_parse_price(text, price):
    assert parse_price(text) == price


@pytest.mark.parametrize(
    "truth, pred, color",
    [
        (100, 139.99, "green"),  # $39.99 < $40
        (100, 140, "orange"),  # $40 is not under $40; 40% is not under 20%; but $40 < $80
        (100, 60.01, "green"),  # under on the low side too
        (100, 179.99, "orange"),  # $79.99 < $80
        (100, 180, "red"),  # $80, and 80%
        (1000, 1199, "green"),  # $199 but 19.9% < 20%
        (1000, 1200, "orange"),  # exactly 20%: not under; 20% < 40%
        (1000, 1399, "orange"),  # 39.9%
        (1000, 1400, "red"),  # exactly 40%
        (10, 49.99, "green"),  # 400% off but $39.99 < $40: cheap items are easy to hit
        (0, 30, "green"),  # a free item: no percentage, the dollar rule still applies
        (0, 100, "red"),
        (100, None, "red"),  # no guess at all
    ],
)
def test_colours_at_the_thresholds(truth, pred, color):
    assert color_for(truth, pred) == color


def test_score_hand_worked():
    r = score([100, 500, 20], [130, 300, None])
    assert r["n"] == 3
    assert r["colors"] == ["green", "red", "red"]
    assert r["errors"] == [30, 200, 20]  # the None is scored as a guess of $0
    assert r["mae"] == pytest.approx(250 / 3)
    expected = math.sqrt(
        (
            (math.log(131) - math.log(101)) ** 2
            + (math.log(301) - math.log(501)) ** 2
            + (math.log(1) - math.log(21)) ** 2
        )
        / 3
    )
    assert r["rmsle"] == pytest.approx(expected)
    assert r["hit_rate"] == pytest.approx(1 / 3)
    assert r["misses"] == 1 and r["counts"] == {"green": 1, "orange": 0, "red": 2}
    assert r["running_mae"] == pytest.approx([30, 115, 250 / 3])


def test_a_miss_is_red_even_when_zero_would_have_been_close():
    # truth $20: a guess of $0 would be within $40, but saying nothing must not count as a hit
    assert score([20], [None])["colors"] == ["red"]
    assert score([20], [0.0])["colors"] == ["green"]


def test_perfect_and_negative_guesses():
    perfect = score([10, 20], [10, 20])
    assert perfect["mae"] == 0 and perfect["rmsle"] == 0 and perfect["hit_rate"] == 1
    assert math.isfinite(score([10], [-5])["rmsle"])  # a negative guess is clipped for the log, not a crash


def test_score_refuses_mismatched_or_empty_input():
    with pytest.raises(InputError, match="2 true prices but 1 predictions"):
        score([1, 2], [1])
    with pytest.raises(InputError, match="empty"):
        score([], [])


def test_summary_shape_is_the_cli_contract():
    assert set(summary("x", score([100], [110]))) == {"name", "mae", "rmsle", "hit_rate"}
    row = summary("x", with_ci(score([100, 200, 300], [110, 180, 300])))
    assert set(row) == {"name", "mae", "rmsle", "hit_rate", "mae_ci"} and len(row["mae_ci"]) == 2


def test_bootstrap_ci_hand_worked_and_shrinking():
    assert bootstrap_ci([10.0] * 50) == [10.0, 10.0]
    # two errors, 0 and 100: a resample's mean is 0, 50 or 100 with chances 1/4, 1/2, 1/4 -> the 95% interval is [0, 100]
    assert bootstrap_ci([0.0, 100.0], n_boot=4000) == [0.0, 100.0]
    rng = np.random.default_rng(1)
    errors = rng.exponential(100, 1400)
    small, big = bootstrap_ci(errors[:70]), bootstrap_ci(errors[:280])
    assert small[0] < np.mean(errors[:70]) < small[1] and big[0] < np.mean(errors[:280]) < big[1]
    # 4x the items, about half the width (1/sqrt(n))
    assert 0.25 < (big[1] - big[0]) / (small[1] - small[0]) < 0.75
    assert bootstrap_ci(errors[:70]) == small  # seeded
    with pytest.raises(InputError, match="No errors"):
        bootstrap_ci([])


def test_error_by_band_and_category():
    assert [band_of(p) for p in (0, 49.99, 50, 150, 699, 700, 5000)] == [
        "$0-50",
        "$0-50",
        "$50-100",
        "$100-200",
        "$400-700",
        "$700+",
        "$700+",
    ]
    assert len(BANDS) == 7
    rows = error_by([10, 20, 500], [20, None, 400], ["a", "a", "b"])
    assert rows == [{"group": "a", "items": 2, "mae": 15.0}, {"group": "b", "items": 1, "mae": 100.0}]


def test_leaderboard_persists_across_loads_and_survives_damage(tmp_settings):
    assert load_leaderboard() == []
    record("bag of words", score([100, 200], [150, 260]))
    record("you: Ada", score([100, 200], [100, 200]), kind="human")
    rows = load_leaderboard()
    assert [r["name"] for r in rows] == ["you: Ada", "bag of words"]  # best MAE first
    assert rows[0]["kind"] == "human" and rows[1]["mae"] == 55.0
    assert leaderboard_path().parent == tmp_settings.data_dir / "pricer"
    leaderboard_path().write_text("{not json")
    assert load_leaderboard() == []
    with pytest.raises(InputError, match="name"):
        record("  ", score([1], [1]))


def test_course_reference_is_labelled_as_theirs():
    assert all("(course)" in k for k in COURSE_REFERENCE)
    # week6/results.ipynb of ed-donner/llm_engineering
    assert COURSE_REFERENCE["constant (course)"] == 106.18 and COURSE_REFERENCE["XGBoost (course)"] == 68.23
    assert COURSE_REFERENCE["deep neural network (course)"] == 46.49 and COURSE_REFERENCE["ensemble (course)"] == 30
