"""The course's ``Tester``: score price guesses against the truth, colour each one, keep a leaderboard.

    >>> r = score([100, 500, 20], [130, 300, None])
    >>> r["colors"], round(r["mae"], 2), r["hit_rate"]
    (['green', 'red', 'red'], 83.33, 0.3333333333333333)

Item by item: |130-100| = $30 < $40 -> green; |300-500| = $200 is 40% of $500, not *under* 40% -> red;
no number in the reply (None) is a miss: red whatever its size (so a model cannot score by saying nothing),
and it enters the averages as a guess of $0, |0-20| = $20. MAE = (30 + 200 + 20) / 3 = 83.33.

Colours, as the course: green if the error is under $40 *or* under 20% of the true price; orange if under
$80 or 40%; red otherwise. The hit rate is the share of greens. RMSLE = sqrt(mean((log(1+pred) -
log(1+truth))^2)): an error of $50 on a $60 item counts far more than on a $2,000 one.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
import time
from typing import Sequence

from lab.core.errors import InputError

# Reported by the course on its Amazon test set (mean absolute error, dollars). Theirs, not measured here.
# Week 6's results notebook (ed-donner/llm_engineering, week6/results.ipynb: items_full, 800k training items);
# the fine-tuned Llama and the ensemble are weeks 7-8 of the earlier edition.
COURSE_REFERENCE = {
    "constant (course)": 106.18,
    "features + LR (course)": 101.56,
    "bag of words + LR (course)": 76.81,
    "random forest (course)": 72.28,
    "XGBoost (course)": 68.23,
    "human, Ed (course)": 87.62,
    "neural network (course)": 63.97,
    "deep neural network (course)": 46.49,
    "GPT 4.1 nano (course)": 62.51,
    "Claude 4.5 Sonnet (course)": 47.10,
    "GPT 5.1 (course)": 44.74,
    "fine-tuned Llama 3.1 8B (course)": 40.0,
    "ensemble (course)": 30.0,
}

_NUMBER = re.compile(r"(\$\s*)?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?|\.\d+)")


def parse_price(text: str | None) -> float | None:
    """The first price-like number in a reply, or None; a number written with '$' wins over bare numbers.

    >>> parse_price("$1,299.50"), parse_price("Price is $ 45"), parse_price("about 12.5 dollars"), parse_price("no idea")
    (1299.5, 45.0, 12.5, None)
    >>> parse_price("The 2022 model with 16GB costs $449.99")   # model years and sizes are not prices
    449.99
    """
    if not text:
        return None
    found = _NUMBER.findall(str(text))
    if not found:
        return None
    dollars = [n for sign, n in found if sign]
    value = float((dollars or [found[0][1]])[0].replace(",", ""))
    return value if math.isfinite(value) else None


def color_for(truth: float, pred: float | None) -> str:
    """green / orange / red by the course's thresholds (strictly under; a missing guess is red)."""
    if pred is None:
        return "red"
    error = abs(pred - truth)
    rel = error / truth if truth > 0 else math.inf
    if error < 40 or rel < 0.2:
        return "green"
    if error < 80 or rel < 0.4:
        return "orange"
    return "red"


def score(truth: Sequence[float], pred: Sequence[float | None]) -> dict:
    """MAE, RMSLE, hit rate and per-item colours; a None prediction is a miss scored as a guess of $0."""
    truth = [float(t) for t in truth]
    if len(truth) != len(pred):
        raise InputError(f"{len(truth)} true prices but {len(pred)} predictions: score the same items.")
    if not truth:
        raise InputError("Nothing to score: the test set is empty.")
    if any(t < 0 or not math.isfinite(t) for t in truth):
        raise InputError("True prices must be finite and not negative.")
    guesses = [None if p is None or not math.isfinite(float(p)) else float(p) for p in pred]
    used = [0.0 if g is None else g for g in guesses]
    errors = [abs(u - t) for u, t in zip(used, truth)]
    # log1p of a negative guess is undefined: clip at 0, a negative price is as wrong as $0.
    sle = [(math.log1p(max(u, 0.0)) - math.log1p(t)) ** 2 for u, t in zip(used, truth)]
    colors = [color_for(t, g) for t, g in zip(truth, guesses)]
    n = len(truth)
    running, total = [], 0.0
    for i, e in enumerate(errors, 1):
        total += e
        running.append(total / i)
    return {
        "n": n,
        "mae": total / n,
        "rmsle": math.sqrt(sum(sle) / n),
        "hit_rate": colors.count("green") / n,
        "colors": colors,
        "errors": errors,
        "running_mae": running,
        "misses": guesses.count(None),
        "counts": {c: colors.count(c) for c in ("green", "orange", "red")},
    }


def summary(name: str, result: dict) -> dict:
    """The numbers a scoreboard line shows (the CLI's JSON shape); ``mae_ci`` when the result carries one."""
    row = {
        "name": name,
        "mae": round(result["mae"], 2),
        "rmsle": round(result["rmsle"], 4),
        "hit_rate": round(result["hit_rate"], 4),
    }
    if result.get("mae_ci"):
        row["mae_ci"] = [round(float(x), 2) for x in result["mae_ci"]]
    return row


def bootstrap_ci(errors: Sequence[float], *, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> list[float]:
    """Percentile bootstrap confidence interval of the mean of ``errors`` (resample items with replacement).

    >>> bootstrap_ci([10.0] * 50)          # no spread, no doubt
    [10.0, 10.0]

    With n items the interval's width shrinks like 1/sqrt(n): 70 test items give an interval about twice as
    wide as 280 do. Two models whose intervals overlap a lot cannot be ranked on this data.
    """
    import numpy as np

    e = np.asarray(errors, dtype=float)
    if e.size == 0:
        raise InputError("No errors to bootstrap.")
    rng = np.random.default_rng(seed)
    means = e[rng.integers(0, e.size, size=(n_boot, e.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, 1 - (1 - level) / 2])
    return [float(lo), float(hi)]


def with_ci(result: dict, seed: int = 0) -> dict:
    """The score with its 95% bootstrap interval on the MAE added as ``mae_ci``."""
    return result | {"mae_ci": bootstrap_ci(result["errors"], seed=seed)}


BANDS = (0, 50, 100, 200, 400, 700, 1_000_000)


def band_of(price: float) -> str:
    """'$0-50', ..., '$700+' (dollars): where an error lands by the item's true price."""
    for lo, hi in zip(BANDS, BANDS[1:]):
        if price < hi:
            return f"${lo}+" if hi == BANDS[-1] else f"${lo}-{hi}"
    return f"${BANDS[-2]}+"


def error_by(truth: Sequence[float], pred: Sequence[float | None], groups: Sequence[str]) -> list[dict]:
    """Mean absolute error and count per group (a price band, a category); a missing guess counts as $0."""
    acc: dict[str, list[float]] = {}
    for t, p, g in zip(truth, pred, groups):
        acc.setdefault(str(g), []).append(abs((0.0 if p is None else float(p)) - float(t)))
    return [{"group": g, "items": len(v), "mae": sum(v) / len(v)} for g, v in acc.items()]


# ---------------------------------------------------------------------------------------------- leaderboard
_LB_LOCK = threading.Lock()


def leaderboard_path():
    from lab.core.settings import get_settings

    return get_settings().data_dir / "pricer" / "leaderboard.json"


def load_leaderboard() -> list[dict]:
    """Every model (and learner) scored so far, best MAE first. A damaged file reads as empty, never a crash."""
    path = leaderboard_path()
    try:
        rows = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    rows = [r for r in rows if isinstance(r, dict) and isinstance(r.get("mae"), int | float)]
    return sorted(rows, key=lambda r: r["mae"])


def record(name: str, result: dict, *, kind: str = "model", data: str = "offline") -> dict:
    """Add one run to the leaderboard file (atomic replace under a lock: many students share one deployment)."""
    name = (name or "").strip()[:60]
    if not name:
        raise InputError("Give the entry a name for the leaderboard.")
    row = summary(name, result) | {
        "n": result["n"],
        "kind": kind,
        "data": data,
        "when": time.strftime("%Y-%m-%d %H:%M"),
    }
    path = leaderboard_path()
    with _LB_LOCK:
        rows = load_leaderboard() + [row]
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(rows, indent=1))
        os.replace(tmp, path)
    return row
