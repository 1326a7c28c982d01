"""The course's ensemble: a linear regression over several pricers' guesses, plus their min and max.

    >>> ens = Ensemble().fit({"a": [10, 20, 30, 40], "b": [12, 18, 33, 41]}, truth=[11, 19, 31, 40])
    >>> [round(p) for p in ens.predict({"a": [25], "b": [27]})]
    [26]
    >>> list(ens.weights())
    ['a', 'b', 'min', 'max', 'intercept']

Why min and max: when the models disagree, the regression can learn which side tends to be right (the
course found its fine-tuned model underestimated dear items, so 'max' earned weight). The ensemble must be
fitted on guesses for items the models did *not* train on (out-of-fold predictions, see
``baselines.out_of_fold``), or it learns to trust whichever model memorised the training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from lab.core.errors import InputError


def features(preds: dict[str, Sequence[float | None]], names: list[str]) -> np.ndarray:
    """Columns: each model's guess (a missing guess becomes the row's mean of the others), then min, max."""
    missing = [n for n in names if n not in preds]
    if missing:
        raise InputError(f"The ensemble was trained with {', '.join(missing)}: give their predictions too.")
    lengths = {len(preds[n]) for n in names}
    if len(lengths) != 1:
        raise InputError("Every model must price the same items (prediction lists differ in length).")
    cols = np.array([[np.nan if p is None else float(p) for p in preds[n]] for n in names], dtype=float).T
    row_mean = np.nanmean(np.where(np.isnan(cols).all(axis=1, keepdims=True), 0.0, cols), axis=1)
    cols = np.where(np.isnan(cols), row_mean[:, None], cols)
    return np.column_stack([cols, cols.min(axis=1), cols.max(axis=1)])


class Ensemble:
    def __init__(self) -> None:
        self.names: list[str] = []
        self.model = None

    def fit(self, preds: dict[str, Sequence[float | None]], truth: Sequence[float]) -> "Ensemble":
        from sklearn.linear_model import LinearRegression

        if len(preds) < 2:
            raise InputError("An ensemble needs the guesses of at least two models.")
        self.names = list(preds)
        X = features(preds, self.names)
        if len(X) != len(truth):
            raise InputError(f"{len(X)} guesses per model but {len(truth)} true prices.")
        self.model = LinearRegression().fit(X, np.asarray(truth, dtype=float))
        return self

    def predict(self, preds: dict[str, Sequence[float | None]]) -> list[float]:
        if self.model is None:
            raise InputError("Fit the ensemble first.")
        return [max(0.0, float(p)) for p in self.model.predict(features(preds, self.names))]

    def weights(self) -> dict[str, float]:
        """Each input's coefficient (dollars of output per dollar of guess) and the intercept (dollars)."""
        coefs = dict(zip(self.names + ["min", "max"], map(float, self.model.coef_)))
        return coefs | {"intercept": float(self.model.intercept_)}


def from_baselines(ds, names: list[str], seed: int = 42, extra: dict | None = None):
    """Fit on out-of-fold guesses over the training split, then price the test split.

    ``extra`` adds models that need no training (e.g. an LLM pricer): {name: (train_preds, test_preds)}.
    Returns (ensemble, test predictions, score).
    """
    from lab.pricer import baselines
    from lab.pricer.metrics import score

    train_preds = {n: baselines.out_of_fold(n, ds.train, seed) for n in names}
    test_preds = {n: baselines.predict(baselines.fit(n, ds.train, seed), ds.test) for n in names}
    for n, (tr, te) in (extra or {}).items():
        train_preds[n], test_preds[n] = list(tr), list(te)
    ens = Ensemble().fit(train_preds, [i.price for i in ds.train])
    preds = ens.predict(test_preds)
    return ens, preds, score([i.price for i in ds.test], preds)


# ---------------------------------------------------------------------------------------------- other labs' ensembles
@dataclass
class ExtraEnsemble:
    """An ensemble built by another lab, shown on the Pricer page's Ensemble tab beside the classical one.

    ``run(ds)`` prices ``ds.test`` (a ``data.Curated``) and returns ``(predictions, notes)``: one dollar guess (or
    None) per test item, in order, and a dict of what to show (weights, members). It may raise a LabError
    (no key, model missing): the page shows the message.
    """

    name: str
    run: Callable
    description: str = ""


EXTRA_ENSEMBLES: list[ExtraEnsemble] = []
# A module of the Agents lab that calls ``register_ensemble`` when imported (imported lazily by the page).
AGENTS_HOOK = "lab.agents.pricer_ensemble"


def register_ensemble(name: str, run: Callable, description: str = "") -> ExtraEnsemble:
    """Add (or replace, by name) an ensemble the Pricer page renders. The Agents lab calls this on import.

    >>> e = register_ensemble("demo", lambda ds: ([1.0] * len(ds.test), {}), "for the docs")
    >>> [x.name for x in EXTRA_ENSEMBLES if x.name == "demo"]
    ['demo']
    >>> EXTRA_ENSEMBLES.remove(e)
    """
    entry = ExtraEnsemble(name, run, description)
    EXTRA_ENSEMBLES[:] = [e for e in EXTRA_ENSEMBLES if e.name != name] + [entry]
    return entry


def extra_ensembles() -> list[ExtraEnsemble]:
    """The registered ensembles; imports the Agents lab first (if present) so it can register its own."""
    import importlib

    try:
        importlib.import_module(AGENTS_HOOK)
    except ModuleNotFoundError as e:
        if e.name not in ("lab.agents", AGENTS_HOOK):
            raise  # the module is there but needs something missing: say so, do not hide it
        # that lab, or that module, is not there: nothing extra to show
    return list(EXTRA_ENSEMBLES)
