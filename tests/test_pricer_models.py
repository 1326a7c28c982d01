"""Baselines (fit, persist, reload), the ensemble, the LLM and RAG pricers (scripted provider), the CLI contract."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.core.errors import InputError
from lab.llm.fake import FakeProvider
from lab.pricer import baselines as B
from lab.pricer import llm as L
from lab.pricer.ensemble import Ensemble, from_baselines
from lab.pricer.items import Item


def item(i: int, price: float, text: str | None = None, cat: str = "TVs") -> Item:
    text = text or f"Brand{i % 3} screen {i} inch with extras"
    return Item(title=f"Brand{i % 3} product {i}", category=cat, price=price, text=text, tokens=len(text.split()))


@pytest.fixture
def small():
    """40 items whose price grows with the words 'premium' (+$300) and 'pro' (+$100): a text model can learn it."""
    out = []
    for i in range(40):
        words = ["basic gadget"] + (["premium"] if i % 2 else []) + (["pro"] if i % 4 >= 2 else [])
        out.append(item(i, 50 + 300 * (i % 2) + 100 * (i % 4 >= 2) + (i % 5), " ".join(words) + f" model {i % 5}"))
    return out


def test_constant_and_random_baselines(small):
    train, test = small[:30], small[30:]
    const = B.predict(B.fit("constant (train mean)", train), test)
    assert const == pytest.approx([np.mean([i.price for i in train])] * 10)
    rnd = B.predict(B.fit("random", train, seed=3), test)
    lo, hi = min(i.price for i in train), max(i.price for i in train)
    assert all(lo <= p <= hi for p in rnd) and len(set(rnd)) == 10
    assert rnd == B.predict(B.fit("random", train, seed=3), test)  # seeded


def test_bag_of_words_learns_the_priced_words(small):
    train, test = small[:30], small[30:]
    truth = [i.price for i in test]
    bow = B.predict(B.fit("bag of words + LR", train), test)
    const = B.predict(B.fit("constant (train mean)", train), test)
    mae = lambda p: np.mean(np.abs(np.array(p) - truth))  # noqa: E731
    assert mae(bow) < mae(const) / 3


def test_persistence_round_trip(small, tmp_settings):
    model = B.fit("features + LR", small[:30])
    path = B.save(model, "features + LR", seed=42)
    assert path.startswith(str(tmp_settings.data_dir / "pricer" / "models"))
    assert B.saved() == ["features-lr"]
    assert B.predict(B.load("features + LR"), small[30:]) == B.predict(model, small[30:])
    with pytest.raises(InputError, match="train it first"):
        B.load("MiniLM + SVR")


def test_bad_names_and_too_little_data(small):
    with pytest.raises(InputError, match="Unknown baseline"):
        B.fit("magic", small)
    with pytest.raises(InputError, match="too few"):
        B.fit("bag of words + LR", small[:3])


def test_ensemble_hand_worked():
    # truth = (a + b) / 2 exactly: the regression must find it (min and max add nothing here)
    a, b = [10.0, 50.0, 20.0, 80.0, 30.0, 60.0], [30.0, 10.0, 60.0, 40.0, 90.0, 20.0]
    truth = [(x + y) / 2 for x, y in zip(a, b)]
    ens = Ensemble().fit({"a": a, "b": b}, truth)
    assert ens.predict({"a": [100.0], "b": [200.0]}) == pytest.approx([150.0])
    w = ens.weights()
    assert list(w) == ["a", "b", "min", "max", "intercept"]
    # min + max = a + b on every row, so the weights are not unique; what is fixed: where a < b the row is
    # (w_a + w_min) a + (w_b + w_max) b, where a > b it is (w_a + w_max) a + (w_b + w_min) b; each must be 1/2
    for x, y in (("a", "min"), ("a", "max"), ("b", "min"), ("b", "max")):
        assert w[x] + w[y] == pytest.approx(0.5, abs=1e-6)
    assert w["intercept"] == pytest.approx(0.0, abs=1e-6)
    assert ens.predict({"a": a, "b": b}) == pytest.approx(truth)
    assert ens.predict({"a": [None], "b": [40.0]}) == pytest.approx([40.0])  # a missing guess takes the others' mean


def test_ensemble_uses_min_and_max():
    # the truth is always the larger guess: only the 'max' column can explain it
    rng = np.random.default_rng(0)
    a, b = rng.uniform(10, 500, 30).tolist(), rng.uniform(10, 500, 30).tolist()
    ens = Ensemble().fit({"a": a, "b": b}, [max(x, y) for x, y in zip(a, b)])
    assert ens.predict({"a": [100.0, 300.0], "b": [250.0, 40.0]}) == pytest.approx([250.0, 300.0])


def test_ensemble_bad_input():
    with pytest.raises(InputError, match="at least two"):
        Ensemble().fit({"a": [1, 2]}, [1, 2])
    ens = Ensemble().fit({"a": [1, 2, 3], "b": [2, 3, 4]}, [1, 2, 3])
    with pytest.raises(InputError, match="give their predictions"):
        ens.predict({"a": [1]})
    with pytest.raises(InputError, match="same items"):
        ens.predict({"a": [1, 2], "b": [1]})


def test_ensemble_from_baselines_scores_the_test_split(small):
    class DS:
        train, test = small[:32], small[32:]

    ens, preds, result = from_baselines(DS, ["bag of words + LR", "features + LR"], seed=1)
    assert len(preds) == 8 and result["n"] == 8 and set(ens.weights()) >= {"min", "max"}


def test_llm_pricer_parses_and_counts_a_reply_without_a_number_as_a_miss(small):
    fake = FakeProvider(["Price is $58.00", "I'm not sure, sorry.", "$1,050"])
    run = L.price_items(fake, small[:3])
    assert run.preds == [58.0, None, 1050.0]
    assert run.result["colors"][1] == "red" and run.result["misses"] == 1
    assert run.guesses[1].reply == "I'm not sure, sorry."  # shown as it came, never invented
    sent = fake.calls[0]["messages"]
    assert sent[0]["content"] == L.SYSTEM
    assert "to the nearest dollar" not in sent[1]["content"] and not sent[1]["content"].endswith("Price is $")
    assert small[0].text in sent[1]["content"]
    assert fake.calls[0]["options"].temperature == 0


def test_llm_pricer_errors_are_raised_not_scored(small):
    from lab.core.errors import AuthError

    with pytest.raises(AuthError):
        L.price_items(FakeProvider(["$10", AuthError("bad key")]), small[:2])
    with pytest.raises(InputError, match="empty"):
        L.price_items(FakeProvider([]), [])


@pytest.mark.slow
def test_rag_prompt_shows_similar_training_items_with_prices(tmp_settings):
    train = [
        item(0, 999.0, "Samsung 65 inch QLED 4K smart TV"),
        item(1, 25.0, "AA alkaline batteries 8 pack"),
        item(2, 899.0, "LG 65 inch OLED 4K television"),
        item(3, 30.0, "USB-C charging cable 2 m"),
    ]
    similar = L.SimilarItems(train)
    query = item(9, 700.0, "Sony 65 inch 4K LED TV")
    found = similar.find(query, k=2)
    assert {f.price for f in found} == {999.0, 899.0}
    fake = FakeProvider(["$950"])
    run = L.price_items(fake, [query], similar=similar, k=2)
    user = fake.calls[0]["messages"][1]["content"]
    assert user.startswith(L.CONTEXT_HEAD) and "Price is $999.00" in user and "Price is $899.00" in user
    assert "batteries" not in user and run.name.endswith("+ RAG (k=2)")
    assert L.rag_neighbours_price(similar, [query], k=2) == [949.0]


def test_cli_data_json(capsys):
    from lab.cli import main

    assert main(["pricer", "data", "--json", "--tokenizer", "cl100k_base"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert {"items", "train", "test", "categories", "price"} <= set(out)
    assert out["items"] == out["train"] + out["test"] and out["price"]["max"] <= 999.49


def test_cli_llm_with_the_scripted_provider_reports_misses(capsys, tmp_settings):
    from lab.cli import main

    # the fake provider has no reply queued: a LabError, printed as one line, exit code 2
    assert main(["pricer", "llm", "--provider", "fake", "--n", "2", "--json", "--tokenizer", "cl100k_base"]) == 2
    assert "no reply queued" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_baselines_json_best_first(capsys, tmp_settings):
    from lab.cli import main

    # the quicker models (the forests, boosting and the network have tests of their own)
    names = [n for n in B.NAMES if "forest" not in n and "boost" not in n.lower() and "network" not in n]
    assert (
        main(
            [
                "pricer",
                "baselines",
                "--seed",
                "42",
                "--json",
                "--tokenizer",
                "cl100k_base",
                "--eval",
                "split",
                "--models",
                *names,
            ]
        )
        == 0
    )
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} == set(names) and all(r["n"] == 70 and r["eval"] == "split" for r in rows)
    assert [r["mae"] for r in rows] == sorted(r["mae"] for r in rows)
    assert all({"name", "mae", "rmsle", "hit_rate", "mae_ci"} <= set(r) and 0 <= r["hit_rate"] <= 1 for r in rows)
    assert all(r["mae_ci"][0] <= r["mae"] <= r["mae_ci"][1] for r in rows)
    by = {r["name"]: r for r in rows}
    assert by["bag of words + LR"]["mae"] < by["constant (train mean)"]["mae"] < by["random"]["mae"]
    assert sorted(B.saved()) == sorted(B._slug(n) for n in names)  # every model persisted


@pytest.mark.slow  # the offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_cli_baselines_cross_validated_scores_every_item(capsys, tmp_settings):
    from lab.cli import main

    args = [
        "pricer",
        "baselines",
        "--json",
        "--tokenizer",
        "cl100k_base",
        "--models",
        "constant (train mean)",
        "bag of words + LR",
        "TF-IDF + ridge",
    ]
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in rows][-1] == "constant (train mean)"
    assert all(r["n"] >= 250 and r["eval"] == "cv" and r["mae_ci"][0] < r["mae"] < r["mae_ci"][1] for r in rows)
    assert main(["pricer", "baselines", "--models", "magic"]) == 2
    assert "Unknown baseline" in capsys.readouterr().err


def test_cross_validate_prices_every_item_once(small):
    class DS:
        items = small
        from lab.pricer.data import DataConfig

        config = DataConfig()

    runs = B.cross_validate(DS, ["constant (train mean)", "bag of words + LR"], folds=4, persist=False)
    assert [r.name for r in runs] == ["bag of words + LR", "constant (train mean)"]
    for r in runs:
        assert r.result["n"] == 40 and len(r.preds) == 40 and r.result["mae_ci"][0] <= r.result["mae"]
    # the constant model's out-of-fold guess for an item is the mean of the *other* folds' prices
    assert len(set(runs[1].preds)) == 4
    with pytest.raises(InputError, match="too few"):
        B.out_of_fold("constant (train mean)", small[:5], folds=5)


def test_tfidf_and_random_forest_on_words_learn(small):
    train, test = small[:30], small[30:]
    truth = np.array([i.price for i in test])
    const = np.mean(np.abs(np.array(B.predict(B.fit("constant (train mean)", train), test)) - truth))
    for name in ("TF-IDF + ridge", "bag of words + random forest"):
        assert np.mean(np.abs(np.array(B.predict(B.fit(name, train), test)) - truth)) < const / 2, name


@pytest.mark.slow  # trains a torch network
def test_residual_network_learns_streams_its_loss_and_pickles(small, tmp_settings):
    from lab.pricer.network import ResidualNetPricer

    train, test = small[:32], small[32:]
    net = ResidualNetPricer(epochs=25, hidden=64, layers=4, seed=1)
    steps = list(net.fit_steps(B.table(train), [i.price for i in train]))
    assert [s["epoch"] for s in steps] == list(range(1, 26)) and steps[-1]["loss"] < steps[0]["loss"] / 2
    assert net.n_weights() > 5000 * 64
    truth = np.array([i.price for i in test])
    mae = np.mean(np.abs(net.predict(B.table(test)) - truth))
    assert mae < np.mean(np.abs(np.mean([i.price for i in train]) - truth)) / 2
    B.save(net, "residual network (words)")
    assert B.predict(B.load("residual network (words)"), test) == pytest.approx(B.predict(net, test))
    quick = ResidualNetPricer(epochs=50, hidden=16, layers=2, time_budget_s=0.0)
    steps = list(quick.fit_steps(B.table(train), [i.price for i in train]))
    assert len(steps) == 1 and steps[0]["stopped"] == "time budget" and steps[0]["epochs"] == 50


@pytest.mark.skipif(not B.has_xgboost(), reason="xgboost not installed")
@pytest.mark.slow
def test_xgboost_learns_the_priced_words(small):
    train, test = small[:30], small[30:]
    truth = np.array([i.price for i in test])
    xgb = np.mean(np.abs(np.array(B.predict(B.fit("XGBoost (words + features)", train), test)) - truth))
    assert xgb < np.mean(np.abs(np.mean([i.price for i in train]) - truth)) / 2


def test_extra_ensembles_hook():
    from lab.pricer import ensemble as E

    class DS:
        test = [item(0, 10.0), item(1, 20.0)]

    entry = E.register_ensemble("agents: specialist + frontier + forest", lambda ds: ([12.0] * len(ds.test), {"w": 1}))
    try:
        found = {e.name: e for e in E.extra_ensembles()}
        assert found["agents: specialist + frontier + forest"].run(DS) == ([12.0, 12.0], {"w": 1})
        E.register_ensemble(entry.name, lambda ds: ([], {}))  # same name replaces, not duplicates
        assert [e.name for e in E.EXTRA_ENSEMBLES].count(entry.name) == 1
    finally:
        E.EXTRA_ENSEMBLES[:] = [e for e in E.EXTRA_ENSEMBLES if e.name != entry.name]
