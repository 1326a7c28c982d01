"""The Fine-tune page's OpenAI tab headless: prepare -> chat bubbles -> validation report of a broken file, the
missing-key message, and following a recorded job against the loopback wire server."""

from __future__ import annotations

import pytest

from tests.helpers import OPENAI_SID as SID
from tests.helpers import openai_records_dir as _records_dir
from tests.helpers import openai_tab_app as _app
from tests.helpers import widget as _widget


@pytest.fixture(autouse=True)
def loopback_allowed(monkeypatch):
    """The wire server listens on loopback: a base URL typed in the tab (or recorded from it) passes the address
    guard only with LAB_ALLOW_PRIVATE_URLS=1 (tests/test_trust_keys.py checks the refusal without it)."""
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _table(at, column):
    """The first table with that column (st.dataframe without selections carries no key in AppTest)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _metric(at, label):
    return next(m.value for m in at.metric if m.label == label)


@pytest.mark.slow  # preparing the examples tokenizes the pricer's data with SmolLM2's tokenizer (transformers); 19 s measured
def test_prepare_then_validate_a_broken_file_without_a_key(tmp_settings, no_keys):
    at = _app().run()
    assert not at.exception, at.exception
    # no key: launching is explained, naming the variable; preparing and validating still work
    assert any("OPENAI_API_KEY" in i.value for i in at.info)
    assert _widget(at, "button", "oa.launch").disabled

    _widget(at, "number_input", "oa.n").set_value(12)
    _widget(at, "number_input", "oa.n_val").set_value(3)
    at.button(key="oa.prepare").click().run()
    assert not at.exception, at.exception
    assert at.session_state["oa.prepared"]["examples"] == 12
    roles = [c.name for c in at.chat_message]
    assert roles[:3] == ["system", "user", "assistant"] and len(roles) == 9  # three examples as bubbles
    assert at.chat_message[2].markdown[0].value.startswith("Price is $")

    _widget(at, "radio", "oa.source").set_value("training file with deliberate mistakes (demo)")
    at.button(key="oa.validate").click().run()
    assert not at.exception, at.exception
    assert any("problem(s)" in e.value and "Nothing was uploaded" in e.value for e in at.error)
    errors = _table(at, "error")
    assert list(errors["line"]) == [2, 3, 4, 5, 6, 7]
    assert "not valid JSON" in errors["error"][0]

    _widget(at, "radio", "oa.source").set_value("training file")
    at.button(key="oa.validate").click().run()
    assert any("well-formed" in s.value for s in at.success)
    assert _metric(at, "Examples") == "12" and _metric(at, "Estimated cost").startswith("$0.00")
    assert len(at.get("plotly_chart")) >= 1  # the token distribution
    assert _widget(at, "button", "oa.launch").disabled  # still no key


def test_follow_a_recorded_job_and_its_losses(tmp_settings, wire, monkeypatch):
    from lab.finetune import openai_jobs as J

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")  # a placeholder the loopback server accepts
    J.remember(
        {"id": "ftjob-abc123", "status": "running", "model": "gpt-4o-mini-2024-07-18", "created_at": 1},
        base_url=wire.url + "/v1",
        records_dir=_records_dir(),
    )
    wire.queue("ft_openai_job_failed.json").queue("ft_openai_events_failed.json")
    at = _app(SID).run()
    assert not at.exception, at.exception
    assert _metric(at, "Status") == "failed"
    assert any("The job failed" in e.value and "Line 2" in e.value for e in at.error)
    events = _table(at, "level")
    assert list(events["level"]) == ["error", "info"]  # newest first
    assert all("sk-test" not in m.value for m in [*at.markdown, *at.caption, *at.text_input])  # the key is never shown
    # the recorded base URL was typed in a page: the deployment's key never went to it
    assert {r.headers["authorization"] for r in wire.requests} == {"Bearer not-needed"}


@pytest.mark.slow  # preparing the examples tokenizes the pricer's data with SmolLM2's tokenizer (transformers)
def test_use_it_scores_the_fine_tuned_model_beside_its_base(tmp_settings, wire, monkeypatch):
    from lab.finetune import openai_jobs as J

    ft = "ft:gpt-4o-mini-2024-07-18:org-lab:pricer:AbC123xy"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    J.remember(
        {
            "id": "ftjob-abc123",
            "status": "succeeded",
            "model": "gpt-4o-mini-2024-07-18",
            "fine_tuned_model": ft,
            "created_at": 1,
        },
        base_url=wire.url + "/v1",
        records_dir=_records_dir(),
    )
    monkeypatch.setenv("OPENAI_BASE_URL", wire.url + "/v1")  # the SDK's own variable: scoring talks to the wire server
    wire.queue("ft_openai_job_succeeded.json").queue("ft_openai_events.json")  # the follow view polls first
    wire.queue(body=b"step,train_loss,valid_loss\n1,2.0,\n", content_type="text/csv")
    at = _app(SID).run()
    assert not at.exception, at.exception
    _widget(at, "number_input", "oa.score_n").set_value(1)
    wire.queue("ft_openai_job_succeeded.json").queue("ft_openai_events.json")  # the rerun polls again (tab 3)...
    wire.queue(body=b"step,train_loss,valid_loss\n1,2.0,\n", content_type="text/csv")
    wire.queue("ft_openai_price_stream.sse").queue("ft_openai_price_stream.sse")  # ...then scores (tab 4)
    at.button(key="oa.score").click().run()
    assert not at.exception, at.exception
    board = _table(at, "MAE $")
    assert list(board["model"]) == [ft, "gpt-4o-mini-2024-07-18"]
    models = [r.json["model"] for r in wire.requests if r.path == "/v1/chat/completions"]
    assert models == [ft, "gpt-4o-mini-2024-07-18"]
    assert any("barely" in i.value for i in at.info)  # the course's conclusion beside the figures


@pytest.mark.slow  # preparing the examples tokenizes the pricer's data with SmolLM2's tokenizer (transformers)
def test_launch_from_the_tab_after_validation(tmp_settings, wire, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    at = _app().run()
    _widget(at, "number_input", "oa.n").set_value(10)
    _widget(at, "number_input", "oa.n_val").set_value(2)
    at.button(key="oa.prepare").click().run()
    at.button(key="oa.validate").click().run()  # the prepared training file (the default choice)
    _widget(at, "text_input", "oa.base_url").set_value(wire.url + "/v1")
    _widget(at, "checkbox", "oa.agree").check().run()
    assert not _widget(at, "button", "oa.launch").disabled
    wire.queue("ft_openai_file_train.json").queue("ft_openai_file_validation.json").queue("ft_openai_job_created.json")
    wire.queue("ft_openai_job_running.json").queue("ft_openai_events.json")  # then the live view polls
    at.button(key="oa.launch").click().run()
    assert not at.exception, at.exception
    assert at.session_state["oa.job"] == "ftjob-abc123"
    assert [r.path for r in wire.requests][:3] == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"]
    assert wire.requests[2].json["method"]["supervised"]["hyperparameters"] == {"n_epochs": 1}
    assert _metric(at, "Status") == "running" and len(at.get("plotly_chart")) >= 2  # tokens + loss curve
    from lab.finetune import openai_jobs as J

    assert list(J.records(_records_dir(at.session_state["_session_id"]))) == ["ftjob-abc123"]
    assert J.records() == {}  # the CLI's shared records are not where the tab writes
