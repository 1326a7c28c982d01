"""Votes between two models -> a rating per model, with a 95% confidence interval.

A battle is ``(model_a, model_b, winner)`` with winner ``model_a``, ``model_b``, ``tie`` or ``tie (bothbad)``.

**Bradley-Terry (the default), as the Chatbot Arena computes it** (its notebook's ``compute_mle_elo``): the chance
that A beats B is ``1 / (1 + 10 ** ((R_b - R_a) / 400))``; the ratings R that make the observed votes most likely
are a logistic regression with one column per model (+log 10 for A, -log 10 for B) and no intercept; a tie counts
as half a win each. Each battle enters twice, once as seen from A and once, mirrored, from B (a tie is a "win" in
both): the same likelihood as the notebook's doubled data (a win twice; a tie once won, once lost), and it never
leaves sklearn a single class when one model won everything. Ratings = 400 x coefficient + 1000.
One departure, for a class's few dozen votes: a weak L2 prior (``C=10``), so a model that won every battle gets a
large but finite rating (the Arena's unpenalised fit diverges there); with thousands of votes it changes nothing.
The order of the votes does not matter.

**Online Elo** (the Arena's first method, K=4 there; 32 here for small data): ratings move after each vote by
``K x (result - expected)``; the result depends on the order of the votes, which is why the Arena moved to BT.

**Confidence intervals**: bootstrap - resample the battles with replacement ``rounds`` times, refit, take the
2.5th and 97.5th percentiles of each model's rating.

    >>> battles = [("big", "small", "model_a")] * 8 + [("big", "small", "model_b")] * 2 + [("big", "small", "tie")] * 2
    >>> r = {x["model"]: x for x in ratings(battles, rounds=50)}
    >>> r["big"]["rating"] > 1000 > r["small"]["rating"], r["big"]["votes"]
    (True, 12)
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Literal

import numpy as np

from lab.core.errors import InputError

Battle = tuple[str, str, str]
WINNERS = ("model_a", "model_b", "tie", "tie (bothbad)")
SCALE, BASE, INIT = 400.0, 10.0, 1000.0


def _check(battles: list[Battle]) -> list[str]:
    for a, b, w in battles:
        if w not in WINNERS:
            raise InputError(f"Unknown outcome {w!r}; use one of {', '.join(WINNERS)}.")
        if a == b:
            raise InputError(f"A battle needs two different models (got {a!r} twice).")
    return sorted({m for a, b, _ in battles for m in (a, b)})


def bradley_terry(
    battles: list[Battle], models: list[str] | None = None, C: float = 10.0, weights=None
) -> dict[str, float]:
    """Maximum-likelihood BT ratings by logistic regression (see the module docstring). ``weights``: how many
    times each battle happened (the Arena groups identical battles the same way: a few rows, fast fits)."""
    from sklearn.linear_model import LogisticRegression

    models = models or _check(battles)
    if len(models) < 2 or not battles:
        return {m: INIT for m in models}
    idx = {m: i for i, m in enumerate(models)}
    n = len(battles)
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    X = np.zeros((2 * n, len(models)))
    Y = np.zeros(2 * n)
    for i, (a, b, win) in enumerate(battles):
        X[i, idx[a]], X[i, idx[b]] = math.log(BASE), -math.log(BASE)  # seen from A: did A win (or tie)?
        X[n + i] = -X[i]  # seen from B: did B win (or tie)?
        Y[i] = 1.0 if win != "model_b" else 0.0
        Y[n + i] = 1.0 if win != "model_a" else 0.0
    keep = np.concatenate([w, w]) > 0
    if Y[keep].min() == Y[keep].max():  # only ties: every model is equal (and sklearn needs two classes)
        return {m: INIT for m in models}
    # Newton steps on a handful of columns: ~10 ms a fit (lbfgs took 20x longer), so 100 bootstrap fits are quick
    lr = LogisticRegression(fit_intercept=False, C=C, tol=1e-8, max_iter=200, solver="newton-cholesky")
    lr.fit(X[keep], Y[keep], sample_weight=np.concatenate([w, w])[keep])
    return {m: float(SCALE * lr.coef_[0][idx[m]] + INIT) for m in models}


def online_elo(battles: list[Battle], models: list[str] | None = None, k: float = 32.0) -> dict[str, float]:
    """Elo updated vote by vote, in the order given."""
    models = models or _check(battles)
    r = {m: INIT for m in models}
    for a, b, w in battles:
        ea = 1 / (1 + BASE ** ((r[b] - r[a]) / SCALE))
        sa = {"model_a": 1.0, "model_b": 0.0}.get(w, 0.5)
        r[a] += k * (sa - ea)
        r[b] -= k * (sa - ea)
    return r


def ratings(battles: list[Battle], method: Literal["bt", "elo"] = "bt", rounds: int = 100, seed: int = 0) -> list[dict]:
    """``[{"model", "rating", "ci": [lo, hi], "votes"}]``, best first; ``rounds`` bootstrap resamples."""
    if method not in ("bt", "elo"):
        raise InputError(f"Unknown rating method {method!r}; use bt (Bradley-Terry) or elo (online Elo).")
    if not 0 <= rounds <= 10_000:
        raise InputError("Bootstrap rounds must be between 0 and 10,000.")
    models = _check(battles)
    votes = {m: sum(m in (a, b) for a, b, _ in battles) for m in models}
    rng = np.random.default_rng(seed)
    samples = {m: [] for m in models}
    if method == "bt":  # order-free: group identical battles, resample their counts (= resampling battles)
        kinds = Counter(battles)
        keys, counts = list(kinds), np.array(list(kinds.values()))
        point = bradley_terry(keys, models, weights=counts)
        draws = [rng.multinomial(len(battles), counts / counts.sum()) for _ in range(rounds if battles else 0)]
        fits = (bradley_terry(keys, models, weights=d) for d in draws)
    else:  # Elo depends on the order: resample the sequence itself
        point = online_elo(battles, models)
        fits = (
            online_elo([battles[i] for i in rng.integers(0, len(battles), len(battles))], models)
            for _ in range(rounds if battles else 0)
        )
    for fit in fits:
        for m, v in fit.items():
            samples[m].append(v)
    out = []
    for m in models:
        lo, hi = np.percentile(samples[m], [2.5, 97.5]) if samples[m] else (point[m], point[m])
        out.append(
            {
                "model": m,
                "rating": round(point[m], 1),
                "ci": [round(float(lo), 1), round(float(hi), 1)],
                "votes": votes[m],
            }
        )
    return sorted(out, key=lambda r: -r["rating"])


def win_rates(battles: list[Battle]) -> dict[str, dict[str, float]]:
    """Share of A-vs-B battles that A won (ties half), for the pairwise matrix the Arena shows."""
    models = _check(battles)
    won = {a: {b: 0.0 for b in models} for a in models}
    played = {a: {b: 0 for b in models} for a in models}
    for a, b, w in battles:
        sa = {"model_a": 1.0, "model_b": 0.0}.get(w, 0.5)
        won[a][b] += sa
        won[b][a] += 1 - sa
        played[a][b] += 1
        played[b][a] += 1
    return {a: {b: round(won[a][b] / played[a][b], 3) for b in models if played[a][b]} for a in models}
