"""Classical pricers, from a coin toss to gradient boosting: the bar an LLM has to clear.

Each baseline is one scikit-learn estimator fed a table of curated items (text, title, category, brand,
lengths), so fitting, cross-validation, persistence (joblib) and reloading are scikit-learn's own:

    >>> from lab.pricer.data import offline
    >>> ds = offline()
    >>> runs = run_baselines(ds, names=["constant (train mean)", "bag of words + LR"])   # doctest: +SKIP
    >>> [(r.name, round(r.result["mae"])) for r in runs]                                 # doctest: +SKIP
    [('bag of words + LR', 147), ('constant (train mean)', 264)]

The models, as the course built them (week 6), with MiniLM sentence embeddings standing in for its word2vec:
random (uniform in the training range), constant (the training mean), linear regression on engineered
features (lengths, brand, category), bag of words (``CountVectorizer``) + linear regression or a random forest,
TF-IDF + ridge, MiniLM embeddings (384 numbers per item) under linear regression, SVR, random forest and
gradient boosting, XGBoost over words + features (when ``xgboost`` is installed), and the course's
residual network (``network.py``).

Two ways to score: ``run_baselines`` (train split -> test split, as the course) and ``cross_validate``
(k-fold: every item is priced once by a model that never saw it, so every item is a test item). Both attach a
95% bootstrap interval to the MAE (``metrics.bootstrap_ci``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin

from lab.core.errors import InputError
from lab.pricer.items import Item
from lab.pricer.metrics import score, with_ci
from lab.pricer.network import ResidualNetPricer

NUMERIC = ["title_chars", "text_chars", "tokens", "numbers", "max_number"]


def _brand(title: str) -> str:
    """Brand-like feature: the title's first word ('Samsung 65" QLED...' -> 'samsung')."""
    words = re.findall(r"[A-Za-z][\w&+-]*", title)
    return words[0].lower() if words else ""


def table(items: list[Item]) -> pd.DataFrame:
    """What every baseline sees: one row per item (prices are never in it)."""
    rows = []
    for it in items:
        nums = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", it.text)[:50]]
        # log of the biggest number in the text: a '4TB' or '75"' or '64GB' hints at the price.
        rows.append(
            {
                "text": it.text,
                "category": it.category or "none",
                "brand": _brand(it.title),
                "title_chars": len(it.title),
                "text_chars": len(it.text),
                "tokens": it.tokens,
                "numbers": len(nums),
                "max_number": float(np.log1p(max(nums))) if nums else 0.0,
            }
        )
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------- embeddings
_LOCK = threading.Lock()
_VEC_CACHE: dict[str, np.ndarray] = {}


def _encode(texts: list[str]) -> np.ndarray:
    try:  # share the RAG lab's MiniLM (one PyTorch model per process, behind its lock)
        from lab.rag.embeddings import CachedEmbedder, get_embedder
    except ImportError:  # that lab absent: the same model through sentence-transformers directly
        from sentence_transformers import SentenceTransformer

        from lab.core import assets

        path = assets.minilm_dir()
        if path is None:
            raise InputError(assets.fix_for("minilm")) from None
        return SentenceTransformer(str(path), device="cpu").encode(texts, normalize_embeddings=True)
    from lab.core.settings import get_settings

    # Kept on disk by text hash too: the next CLI run or page session does not re-embed the same products.
    return CachedEmbedder(get_embedder("minilm"), folder=get_settings().data_dir / "pricer" / "embeddings").embed(texts)


def embed(texts: list[str]) -> np.ndarray:
    """MiniLM vectors (384 floats, unit length) for texts; each text is encoded once per process."""
    with _LOCK:
        todo = [t for t in dict.fromkeys(texts) if t not in _VEC_CACHE]
        if todo:
            _VEC_CACHE.update(zip(todo, _encode(todo)))
        return np.stack([_VEC_CACHE[t] for t in texts]) if texts else np.zeros((0, 384), dtype=np.float32)


def embed_column(df: pd.DataFrame) -> np.ndarray:
    """A module-level function (not a lambda), so a pipeline holding it pickles with joblib."""
    return embed(list(df["text"]))


# ---------------------------------------------------------------------------------------------- the models
class RandomPricer(RegressorMixin, BaseEstimator):
    """Guesses uniformly between the cheapest and dearest training price: the floor every model must beat."""

    def __init__(self, seed: int = 42):
        self.seed = seed

    def fit(self, X, y):
        self.low_, self.high_ = float(np.min(y)), float(np.max(y))
        return self

    def predict(self, X):
        return np.random.default_rng(self.seed).uniform(self.low_, self.high_, len(X))


def make_models(seed: int = 42) -> dict[str, BaseEstimator]:
    """Fresh, unfitted baselines by name. Learned models fit log(1 + price) and answer in dollars:

    prices span $15 to $1,000, and an error of $50 matters more on a $60 item than on a $900 one (RMSLE).
    """
    from sklearn.compose import ColumnTransformer, TransformedTargetRegressor
    from sklearn.dummy import DummyRegressor
    from sklearn.ensemble import GradientBoostingRegressor, RandomForestRegressor
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
    from sklearn.linear_model import LinearRegression, Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
    from sklearn.svm import SVR

    def log_target(model):
        return TransformedTargetRegressor(regressor=model, func=np.log1p, inverse_func=np.expm1)

    features = ColumnTransformer(
        [
            ("num", StandardScaler(), NUMERIC),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=2), ["category", "brand"]),
        ]
    )
    words = ColumnTransformer([("bow", CountVectorizer(max_features=1000, stop_words="english", binary=True), "text")])
    # TF-IDF over words and word pairs: rare, telling words ("OLED", "4TB") weigh more than common ones.
    tfidf = ColumnTransformer(
        [("tfidf", TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True, stop_words="english"), "text")]
    )
    vectors = FunctionTransformer(embed_column)
    models = {
        "random": RandomPricer(seed),
        "constant (train mean)": DummyRegressor(strategy="mean"),
        "features + LR": log_target(make_pipeline(features, LinearRegression())),
        # With ~300 items and 1,000 words, plain least squares would fit the training set exactly and
        # generalise badly; a little ridge penalty keeps it a linear regression that predicts.
        "bag of words + LR": log_target(make_pipeline(words, Ridge(alpha=1.0))),
        "TF-IDF + ridge": log_target(make_pipeline(tfidf, Ridge(alpha=0.5))),
        # The course's random forest: on its bag of words (it used CountVectorizer(max_features=2000)).
        "bag of words + random forest": log_target(
            make_pipeline(words, RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1))
        ),
        "MiniLM + LR": log_target(make_pipeline(vectors, Ridge(alpha=1.0))),
        "MiniLM + SVR": log_target(make_pipeline(vectors, SVR(C=3.0))),
        "MiniLM + random forest": log_target(
            make_pipeline(vectors, RandomForestRegressor(n_estimators=100, random_state=seed, n_jobs=1))
        ),
        "MiniLM + gradient boosting": log_target(
            make_pipeline(
                vectors, GradientBoostingRegressor(n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed)
            )
        ),
        "residual network (words)": ResidualNetPricer(seed=seed),
    }
    if has_xgboost():
        from xgboost import XGBRegressor

        # The course's XGBoost (week 6 day 3) on its bag of words, plus our engineered features; shallow trees
        # and a small learning rate suit a few hundred items. One thread: on a shared CPU, OpenMP threads that
        # wait on each other are slower than one.
        both = ColumnTransformer(
            [
                ("bow", CountVectorizer(max_features=2000, stop_words="english", binary=True), "text"),
                ("num", "passthrough", NUMERIC),
                ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=2), ["category", "brand"]),
            ]
        )
        models["XGBoost (words + features)"] = log_target(
            make_pipeline(
                both,
                XGBRegressor(
                    n_estimators=300,
                    learning_rate=0.05,
                    max_depth=4,
                    subsample=0.8,
                    colsample_bytree=0.5,
                    random_state=seed,
                    n_jobs=1,
                    verbosity=0,
                ),
            )
        )
    return models


def has_xgboost() -> bool:
    import importlib.util

    return importlib.util.find_spec("xgboost") is not None


NAMES = list(make_models().keys())


@dataclass
class ModelRun:
    name: str
    preds: list[float]
    result: dict
    model: object = None


def fit(name: str, train: list[Item], seed: int = 42):
    models = make_models(seed)
    if name not in models:
        raise InputError(f"Unknown baseline {name!r}; choose from: {', '.join(models)}.")
    if len(train) < 5:
        raise InputError(f"{len(train)} training items are too few to fit {name}; curate more data.")
    return models[name].fit(table(train), np.array([i.price for i in train]))


def predict(model, items: list[Item]) -> list[float]:
    """Dollar guesses; clipped at 0 (a linear model can extrapolate below zero, no price does)."""
    return [max(0.0, float(p)) for p in model.predict(table(items))]


def run_baselines(ds, names: list[str] | None = None, seed: int = 42, persist: bool = True) -> list[ModelRun]:
    """Fit each baseline on the training split, score it on the test split (MAE with a 95% CI); best MAE first."""
    truth = [i.price for i in ds.test]
    runs = []
    for name in names or NAMES:
        model = fit(name, ds.train, seed)
        preds = predict(model, ds.test)
        runs.append(ModelRun(name, preds, with_ci(score(truth, preds), seed), model))
        if persist:
            save(model, name, seed=seed, config=ds.config.model_dump())
    return sorted(runs, key=lambda r: r.result["mae"])


def cross_validate(
    ds, names: list[str] | None = None, seed: int = 42, folds: int = 5, persist: bool = True, on_model=None
) -> list[ModelRun]:
    """Every curated item priced by a model that never saw it (k-fold), so all items are test items.

    With the offline data that is 349 scored items instead of a 70-item split: the MAE's 95% interval is about
    half as wide. Each fold trains on (k-1)/k of the items. ``preds`` follow ``ds.items``' order. With ``persist``
    the model saved is one fitted on every item (what you would deploy after cross-validating).
    ``on_model(i, name)`` is called before each model (for a progress bar).
    """
    items = ds.items
    truth = [i.price for i in items]
    runs = []
    for k, name in enumerate(names or NAMES):
        if on_model:
            on_model(k, name)
        preds = out_of_fold(name, items, seed, folds)
        model = fit(name, items, seed) if persist else None
        if persist:
            save(model, name, seed=seed, config=ds.config.model_dump(), trained_on="all items (after cross-validation)")
        runs.append(ModelRun(name, preds, with_ci(score(truth, preds), seed), model))
    return sorted(runs, key=lambda r: r.result["mae"])


def out_of_fold(name: str, train: list[Item], seed: int = 42, folds: int = 5) -> list[float]:
    """Each training item priced by a model that never saw it (k-fold): honest inputs for the ensemble."""
    from sklearn.model_selection import KFold, cross_val_predict

    models = make_models(seed)
    if name not in models:
        raise InputError(f"Unknown baseline {name!r}; choose from: {', '.join(models)}.")
    if len(train) < 2 * folds:
        raise InputError(f"{len(train)} items are too few for {folds}-fold cross-validation; curate more data.")
    model = models[name]
    y = np.array([i.price for i in train])
    preds = cross_val_predict(model, table(train), y, cv=KFold(folds, shuffle=True, random_state=seed))
    return [max(0.0, float(p)) for p in preds]


# ---------------------------------------------------------------------------------------------- persistence
def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def model_path(name: str):
    from lab.core.settings import get_settings

    return get_settings().data_dir / "pricer" / "models" / f"{_slug(name)}.joblib"


def save(model, name: str, **meta) -> str:
    """joblib, as scikit-learn's docs advise; written to a temp file then renamed (no half-written model)."""
    import os

    import joblib
    import sklearn

    path = model_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
    joblib.dump({"name": name, "model": model, "sklearn": sklearn.__version__, **meta}, tmp)
    os.replace(tmp, path)
    return str(path)


def load(name: str):
    """A saved baseline, or InputError saying how to make one. Only load files this lab wrote (pickle)."""
    import joblib

    path = model_path(name)
    if not path.exists():
        raise InputError(f"No saved model {name!r} at {path}; train it first (python -m lab pricer baselines).")
    return joblib.load(path)["model"]


def saved() -> list[str]:
    from lab.core.settings import get_settings

    folder = get_settings().data_dir / "pricer" / "models"
    return sorted(p.stem for p in folder.glob("*.joblib")) if folder.exists() else []
