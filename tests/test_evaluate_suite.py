"""The Evaluate lab's suite on the scripted provider: right and wrong replies give exact scores, per task."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lab.core.errors import InputError, MissingKeyError
from lab.evaluate import judge, models, suite, tasks
from lab.evaluate.models import ModelSpec
from lab.llm.base import Usage
from lab.llm.fake import FakeProvider


def by_question(task, *starts):
    cases = task.cases(1000)  # the whole set (a task's default runs a spread-out part of it)
    return [
        next(
            c
            for c in cases
            if (c["question"] if isinstance(c, dict) and "question" in c else c["prompt"]).startswith(s)
        )
        for s in starts
    ]


def test_general_knowledge_scores_accepted_answers_as_whole_words():
    t = tasks.GeneralTask()
    cases = by_question(t, "What is the capital of France", "How many legs", "What is 12 times 12")
    fake = FakeProvider(["The capital of France is Paris.", "A spider has 18 legs.", "12 x 12 = 144"])
    scores = [t.run(fake, None, c).score for c in cases]
    assert scores == [1.0, 0.0, 1.0]  # "18" is not "8"
    assert fake.calls[0]["messages"][0] == {"role": "system", "content": tasks.SYSTEM}
    assert len(t.cases(1000)) == 20 and len(t.cases(None)) == t.default_n == 10


def test_json_validity_first_try_no_repair():
    t = tasks.JsonTask()
    city, person = by_question(t, "Paris is the capital", "Ada Lovelace")
    fake = FakeProvider(
        [
            '{"city": "Paris", "country": "France", "population_millions": 2.1}',
            '{"name": "Ada Lovelace", "birth_year": "eighteen fifteen", "birthplace": "London"}',
        ]
    )
    r1, r2 = t.run(fake, None, city), t.run(fake, None, person)
    assert (r1.score, r2.score) == (1.0, 0.0)
    assert "birth_year" in r2.error
    assert len(fake.calls) == 2  # no repair round: validity is first-try
    assert fake.calls[0]["options"].json_schema == city["schema"]


def test_tool_calls_scored_on_the_first_call_and_never_run(tmp_settings):
    from lab.tools.flightai import FlightDB

    db = FlightDB(tmp_settings.data_dir / "f.db")
    t = tasks.ToolsTask(db)
    paris, book, hello, convert = by_question(
        t, "How much is a return ticket from London to Paris", "Book a flight for Ada", "Hello", "Convert 100 USD"
    )
    date = book["call"]["arguments"]["date"]
    assert date in book["question"] and date > "2026"  # inside FlightAI's booking window
    fake = FakeProvider(
        [
            {"tool_calls": [("get_ticket_price", {"origin": "london", "destination": "Paris "})]},  # right
            {
                "tool_calls": [
                    (
                        "book_flight",
                        {"passenger": "Ada Lovelace", "origin": "London", "destination": "Tokyo", "date": "2030-01-01"},
                    )
                ]
            },  # wrong date
            "Hello! I am FlightAI's assistant.",  # right: no call
            {"tool_calls": [("convert_currency", {"amount": 100.0, "from_currency": "USD", "to_currency": "EUR"})]},
        ]
    )
    results = [t.run(fake, None, c) for c in (paris, book, hello, convert)]
    assert [r.score for r in results] == [1.0, 0.0, 1.0, 1.0]
    assert results[1].expected.startswith("book_flight(passenger=Ada Lovelace")
    assert db.bookings() == []  # the lab stopped before running any call
    assert len(fake.calls) == 4  # one request per question
    assert {s["function"]["name"] for s in fake.calls[0]["tools"]} >= {
        "get_ticket_price",
        "book_flight",
        "get_local_time",
    }


def test_right_call_rules():
    exp = {"name": "convert_currency", "arguments": {"amount": 50, "from_currency": "GBP"}}
    assert tasks.right_call(exp, "convert_currency", '{"amount": "50", "from_currency": "gbp", "to_currency": "JPY"}')
    assert not tasks.right_call(exp, "convert_currency", '{"amount": 5, "from_currency": "GBP"}')
    assert not tasks.right_call(exp, "get_local_time", '{"amount": 50, "from_currency": "GBP"}')
    assert not tasks.right_call(exp, "convert_currency", "not json")
    assert tasks.right_call(None, None, None) and not tasks.right_call(None, "list_destinations", "{}")


def test_pricer_hit_rate_is_the_share_of_green_guesses():
    from lab.pricer.items import Item

    items = [
        Item("Kettle", "kitchen", 100.0, "Kettle\n1.7 l, steel", 8),
        Item("TV", "tv", 500.0, "TV\n55 inch 4K", 8),
        Item("Laptop", "pc", 900.0, "Laptop\n16 GB", 6),
        Item("Cable", "pc", 10.0, "Cable\nUSB-C 2 m", 6),
    ]
    t = tasks.PricerTask(items)
    fake = FakeProvider(["$130", "$300.00", "I cannot know.", "$12"])  # green, red (40%), miss, green
    rows = suite.run_suite([ModelSpec("fake", "fake", "scripted")], [t], n=4, build=lambda s: fake)
    assert rows[0].score == 0.5 and rows[0].n == 4
    assert [c.score for c in rows[0].cases] == [1.0, 0.0, 0.0, 1.0]
    assert rows[0].cases[2].error == "no price in the reply"


class HashEmbedder:
    name, dim = "hash", 384

    def __init__(self) -> None:
        from sklearn.feature_extraction.text import HashingVectorizer

        self.vec = HashingVectorizer(n_features=self.dim, norm="l2", alternate_sign=False)

    def embed(self, texts):
        return self.vec.transform(texts).toarray().astype(np.float32)


@pytest.fixture(scope="module")
def tiny_index():
    from lab.rag.chunking import ChunkOptions
    from lab.rag.faiss_store import FaissStore
    from lab.rag.retrieval import Index

    index = Index(FaissStore(384), HashEmbedder(), ChunkOptions())
    index.refresh()
    return index


def test_rag_answers_need_every_keyword_or_the_judge(tiny_index):
    from lab.rag.chain import ChatOptions

    opts = ChatOptions(k=2, min_score=-1.0)
    t = tasks.RagTask(tiny_index, options=opts)
    q1, q2 = t.cases(1000)[:2]  # revenue 2022 ($55.1 million), EBITDA 2024 ($7.9 million)
    assert q1.keywords == ["$55.1 million"]
    fake = FakeProvider(["Revenue in 2022 was $55.1 million.", "EBITDA was about 8 million dollars."])
    assert [t.run(fake, None, q).score for q in (q1, q2)] == [1.0, 0.0]
    assert "Context:" in fake.calls[0]["messages"][-1]["content"]  # the RAG chain's prompt, chunks included
    # the judge reads meaning: it passes the paraphrase the keywords missed, and its reason is kept
    grader = judge.Judge(
        FakeProvider(['{"accuracy": 5, "completeness": 4, "relevance": 5, "reason": "7.9 rounded"}']),
        label="judge fake",
    )
    t2 = tasks.RagTask(tiny_index, judge=grader, options=opts)
    r = t2.run(FakeProvider(["EBITDA was about 8 million dollars."]), None, q2)
    assert r.score == 1.0 and r.error == "judge fake: accuracy 5/5, completeness 4/5: 7.9 rounded"
    assert grader.provider.calls[0]["options"].json_schema  # the RAG lab's judge, under its schema
    strict = judge.Judge(FakeProvider(['{"accuracy": 5, "completeness": 3, "relevance": 5, "reason": "partial"}']))
    assert strict.grade(q2, "EBITDA was positive.")[0] is False  # completeness 3 < 4
    assert judge.Judge(FakeProvider(["no idea"])).grade(q2, "a")[0] is False  # no verdict is not a pass


def test_suite_rows_speed_cost_and_errors():
    right = ModelSpec("fake:right", "fake", "scripted", bytes=123)
    broken = ModelSpec("openai:gpt-4o-mini", "openai", "gpt-4o-mini")

    def build(spec):
        if spec is broken:
            raise MissingKeyError("set OPENAI_API_KEY")
        return FakeProvider(["Paris.", "It boils at 100 °C.", "Gold."])

    seen = []
    rows = suite.run_suite(
        [right, broken], ["general"], n=3, build=build, on_progress=lambda d, t, m: seen.append((d, t))
    )
    ok, err = rows
    assert (ok.model, ok.task, ok.n, ok.bytes, ok.cost_usd, ok.requests) == ("fake:right", "general", 3, 123, 0.0, 3)
    assert ok.score == round(2 / 3, 4)  # spread(20, 3) asks France, boiling point, hardest substance
    assert ok.latency_ms_p50 is not None
    assert err.score is None and "OPENAI_API_KEY" in err.error
    assert seen[-1] == (6, 6)
    assert set(ok.to_json()) == set(suite.JSON_KEYS)
    assert json.dumps([r.to_json(details=True) for r in rows])  # serialisable
    assert [p["model"] for p in suite.summary(rows)] == ["fake:right"]
    fig = suite.perf_chart(rows, "latency_ms_p50")
    assert fig.data[0].text == ("fake:right",)


def test_a_failed_request_scores_zero_and_the_suite_goes_on():
    fake = FakeProvider(["Paris", InputError("context window exceeded"), "144"])
    rows = suite.run_suite([ModelSpec("f", "fake")], [tasks.GeneralTask()], n=3, build=lambda s: fake)
    assert [c.score for c in rows[0].cases][1] == 0.0 and rows[0].cases[1].error == "context window exceeded"


def test_speed_and_cost_rules():
    assert suite.speed([]) == (None, None)
    assert suite.cost([Usage(cost_usd=0.001), Usage(cost_usd=None)]) is None
    assert suite.cost([Usage(cost_usd=0.001), Usage(cost_usd=0.002)]) == 0.003


def test_model_names(tmp_settings):
    from lab.core import assets

    spec = models.parse("local")
    assert spec.provider == "local" and spec.label == assets.smollm2_gguf().name and spec.bytes > 50e6
    assert models.parse("openai:gpt-4o-mini") == ModelSpec("openai:gpt-4o-mini", "openai", "gpt-4o-mini")
    assert models.parse(str(assets.smollm2_gguf())).label == spec.label
    for bad in ("", "gpt-4o", "openai:", "nowhere.gguf"):
        with pytest.raises(InputError):
            models.parse(bad)
    with pytest.raises(InputError, match="twice"):
        models.parse_list("local,local")
    assert tasks.parse_suite("tools, json,tools") == ["tools", "json"]
    with pytest.raises(InputError, match="choose from"):
        tasks.parse_suite("vibes")


def test_spread_keeps_order_and_range():
    assert tasks.spread(list(range(10)), 3) == [0, 3, 6]
    assert tasks.spread([1, 2], 5) == [1, 2]


def test_worked_examples_in_the_docstrings():
    import doctest

    from lab.evaluate import ratings

    for mod in (tasks, suite, judge, ratings):
        assert doctest.testmod(mod).failed == 0, mod.__name__
