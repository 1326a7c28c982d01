"""The fine-tuning job lifecycle through the real ``openai`` client against the loopback wire server.

Upload (multipart, purpose=fine-tune), create (method/epochs, seed, suffix, validation file, W&B), retrieve,
events newest first, losses from events and from the base64 result file, list, cancel, a failed job with its
error event, a connection drop while polling then resume, and scoring the fine-tuned model. No key needed:
the loopback server accepts the placeholder "sk-test".
"""

from __future__ import annotations

import base64
import json

import pytest

from lab.core.errors import AuthError, InputError, MissingKeyError
from lab.finetune import openai_data as D
from lab.finetune import openai_jobs as J
from tests.wireserver import WIRE

KEY = "sk-test"
FT = "ft:gpt-4o-mini-2024-07-18:org-lab:pricer:AbC123xy"
GOOD = {
    "messages": [
        {"role": "system", "content": D.SYSTEM},
        {"role": "user", "content": "How much does this cost?\n\nA kettle"},
        {"role": "assistant", "content": "Price is $30.00"},
    ]
}


@pytest.fixture
def files(tmp_path):
    train = D.write_jsonl(tmp_path / "train.jsonl", [GOOD] * 12)
    val = D.write_jsonl(tmp_path / "validation.jsonl", [GOOD] * 3)
    return train, val


def url(wire) -> str:
    return wire.url + "/v1"


def launched(wire, files, **kw) -> dict:
    wire.queue("ft_openai_file_train.json").queue("ft_openai_file_validation.json").queue("ft_openai_job_created.json")
    return J.launch(*files, api_key=KEY, base_url=url(wire), **kw)


def test_launch_uploads_both_files_then_creates_the_job(wire, files, tmp_settings, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    job = launched(
        wire, files, model="gpt-4o-mini-2024-07-18", epochs=2, seed=7, suffix="pricer", wandb_project="gpt-pricer"
    )
    assert (job["id"], job["status"]) == ("ftjob-abc123", "validating_files")
    up_train, up_val, create = wire.requests
    for req, path in ((up_train, files[0]), (up_val, files[1])):
        assert (req.method, req.path) == ("POST", "/v1/files")
        assert req.headers["content-type"].startswith("multipart/form-data; boundary=")
        assert req.headers["authorization"] == f"Bearer {KEY}"
        assert b'name="purpose"\r\n\r\nfine-tune\r\n' in req.body
        assert f'filename="{path.name}"'.encode() in req.body
        assert path.read_bytes() in req.body  # the file itself, byte for byte
    assert (create.method, create.path) == ("POST", "/v1/fine_tuning/jobs")
    assert create.json == {
        "model": "gpt-4o-mini-2024-07-18",
        "training_file": "file-train123",
        "validation_file": "file-val456",
        "seed": 7,
        "suffix": "pricer",
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 2}}},
        "integrations": [{"type": "wandb", "wandb": {"project": "gpt-pricer"}}],
    }
    rec = J.records()["ftjob-abc123"]
    assert rec["status"] == "validating_files" and rec["base_url"] == url(wire) and KEY not in json.dumps(J.records())


def test_wandb_only_when_configured(wire, files, tmp_settings, monkeypatch):
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    launched(wire, files)
    body = wire.requests[-1].json
    assert "integrations" not in body and "hyperparameters" not in body  # deprecated field never sent
    assert body["method"]["supervised"]["hyperparameters"] == {"n_epochs": 1} and body["seed"] == 42
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret")
    launched(wire, files)
    body = wire.requests[-1].json
    assert body["integrations"] == [{"type": "wandb", "wandb": {"project": "gpt-pricer"}}]
    assert "wandb-secret" not in json.dumps(body)  # the W&B key lives in OpenAI's settings, never in the request


def test_broken_file_uploads_nothing(wire, tmp_path, tmp_settings):
    train = tmp_path / "train.jsonl"
    train.write_text(json.dumps(GOOD) + "\n" + "{not json\n" + (json.dumps(GOOD) + "\n") * 10)
    with pytest.raises(InputError, match=r"nothing was uploaded; first: line 2: not valid JSON"):
        J.launch(train, api_key=KEY, base_url=url(wire))
    assert wire.requests == [] and J.records() == {}


def test_missing_key_names_the_variable_before_any_upload(wire, files, no_keys, tmp_settings):
    with pytest.raises(MissingKeyError, match="OPENAI_API_KEY"):
        J.launch(*files, base_url=url(wire))
    assert wire.requests == []


def test_refused_key_is_an_auth_error(wire, files, tmp_settings):
    wire.queue("openai_error_401.json", status=401)
    with pytest.raises(AuthError, match="OPENAI_API_KEY"):
        J.launch(*files, api_key="sk-wrong", base_url=url(wire))
    assert len(wire.requests) == 1 and J.records() == {}


def test_follow_running_job_events_newest_first_and_losses(wire, tmp_settings):
    wire.queue("ft_openai_job_running.json").queue("ft_openai_events.json")
    view = J.follow("ftjob-abc123", api_key=KEY, base_url=url(wire))
    assert view["reachable"] and view["job"]["status"] == "running"
    assert [r.path for r in wire.requests] == [
        "/v1/fine_tuning/jobs/ftjob-abc123",
        "/v1/fine_tuning/jobs/ftjob-abc123/events?limit=100",
    ]
    times = [e["created_at"] for e in view["events"]]
    assert times == sorted(times, reverse=True) and view["events"][0]["message"] == "The job has successfully completed"
    assert [m["step"] for m in view["metrics"]] == [40, 80, 120, 160, 200]
    assert view["metrics"][0] == {"step": 40, "train_loss": 2.91}
    assert view["metrics"][2] == {"step": 120, "train_loss": 0.98, "valid_loss": 1.07}
    assert J.records()["ftjob-abc123"]["status"] == "running"


def test_succeeded_job_reads_the_result_file_and_exposes_the_model(wire, tmp_settings):
    csv = (WIRE / "ft_openai_step_metrics.csv").read_bytes()
    wire.queue("ft_openai_job_succeeded.json").queue("ft_openai_events.json")
    wire.queue(body=base64.b64encode(csv), content_type="application/octet-stream")  # the API sends it base64-encoded
    view = J.follow("ftjob-abc123", api_key=KEY, base_url=url(wire))
    assert wire.requests[-1].path == "/v1/files/file-result789/content"
    assert len(view["metrics"]) == 200 and view["metrics"][119]["valid_loss"] == 1.07
    assert "valid_loss" not in view["metrics"][0]
    assert view["job"]["fine_tuned_model"] == FT and J.fine_tuned_models() == [FT]
    assert J.metrics_from_result(csv) == view["metrics"]  # plain CSV reads the same


def test_failed_job_shows_its_error_event(wire, tmp_settings):
    wire.queue("ft_openai_job_failed.json").queue("ft_openai_events_failed.json")
    view = J.follow("ftjob-abc123", api_key=KEY, base_url=url(wire))
    assert view["job"]["status"] == "failed" and "Line 2 is not a dictionary" in view["job"]["error"]["message"]
    assert view["events"][0]["level"] == "error" and "invalid training file" in view["events"][0]["message"]
    assert "Line 2" in J.records()["ftjob-abc123"]["error"] and J.fine_tuned_models() == []


def test_connection_drop_while_polling_keeps_the_job_and_resumes(wire, files, tmp_settings):
    launched(wire, files)
    # headers arrive, then the connection closes mid-body: what a dropped network looks like to the client
    wire.queue(body=b'{"id": "ftjob-abc123"}\n', content_type="application/x-ndjson", cut_after=0)
    view = J.follow("ftjob-abc123", api_key=KEY)  # base_url comes from the record
    assert (
        not view["reachable"] and "ftjob-abc123 is kept" in view["problem"] and "Cannot reach openai" in view["problem"]
    )
    assert view["job"]["status"] == "validating_files"  # last known, from the record
    assert "ftjob-abc123" in J.records()
    wire.queue("ft_openai_job_running.json").queue("ft_openai_events.json")
    view = J.follow("ftjob-abc123", api_key=KEY)
    assert view["reachable"] and view["job"]["status"] == "running" and view["problem"] is None
    assert J.records()["ftjob-abc123"]["status"] == "running"


def test_list_and_cancel(wire, tmp_settings):
    wire.queue("ft_openai_jobs_list.json")
    jobs = J.list_jobs(api_key=KEY, base_url=url(wire))
    assert wire.requests[-1].path == "/v1/fine_tuning/jobs?limit=20"
    assert [j["id"] for j in jobs] == ["ftjob-abc123", "ftjob-old001"] and jobs[1]["fine_tuned_model"].endswith(
        "Old00001"
    )
    wire.queue("ft_openai_job_cancelled.json")
    job = J.cancel("ftjob-abc123", api_key=KEY, base_url=url(wire))
    req = wire.requests[-1]
    assert (req.method, req.path, req.body) == ("POST", "/v1/fine_tuning/jobs/ftjob-abc123/cancel", b"")
    assert job["status"] == "cancelled" and J.records()["ftjob-abc123"]["status"] == "cancelled"


def test_records_of_two_folders_stay_apart_and_the_cli_keeps_its_own(wire, files, tmp_settings, tmp_path):
    alice, bob = tmp_path / "alice", tmp_path / "bob"  # two sessions' folders, as the app passes them
    assert J.records_path() == tmp_settings.data_dir / "finetune" / "openai_jobs.json"  # the CLI's, unchanged
    assert J.records_path(alice) == alice / "openai_jobs.json"
    launched(wire, files, records_dir=alice)
    assert list(J.records(alice)) == ["ftjob-abc123"] and J.records(bob) == {} and J.records() == {}
    assert not bob.exists() and not J.records_path().exists()
    J.remember(
        {"id": "ftjob-bob001", "status": "succeeded", "fine_tuned_model": FT + "-bob", "created_at": 2}, records_dir=bob
    )
    wire.queue("ft_openai_job_succeeded.json").queue("ft_openai_events.json")
    wire.queue(body=b"step,train_loss,valid_loss\n1,2.0,\n", content_type="text/csv")
    view = J.follow("ftjob-abc123", api_key=KEY, records_dir=alice)  # base_url from Alice's record
    assert view["reachable"] and J.records(alice)["ftjob-abc123"]["status"] == "succeeded"
    assert J.fine_tuned_models(alice) == [FT] and J.fine_tuned_models(bob) == [FT + "-bob"]
    assert J.fine_tuned_models() == [] and "ftjob-abc123" not in J.records(bob)
    wire.queue("ft_openai_job_cancelled.json")
    J.cancel("ftjob-abc123", api_key=KEY, base_url=url(wire), records_dir=alice)
    assert J.records(alice)["ftjob-abc123"]["status"] == "cancelled" and set(J.records(bob)) == {"ftjob-bob001"}
    J.remember({"id": "ftjob-cli001", "status": "running"})  # the CLI's file: neither session's
    assert set(J.records()) == {"ftjob-cli001"} and "ftjob-cli001" not in {*J.records(alice), *J.records(bob)}


def test_metrics_from_event_messages_when_data_is_absent():
    rows = [
        {"message": "Step 20/40: training loss=1.50, validation loss=1.70", "data": None},
        {"message": "Step 10/40: training loss=2.25"},
        {"message": "Fine-tuning job started", "data": {}},
    ]
    assert J.metrics_from_events(rows) == [
        {"step": 10, "train_loss": 2.25},
        {"step": 20, "train_loss": 1.5, "valid_loss": 1.7},
    ]


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers)
def test_score_model_asks_with_the_training_prompt(wire):
    for _ in range(2):
        wire.queue("ft_openai_price_stream.sse")
    r = J.score_model(FT, n=2, api_key=KEY, base_url=url(wire))
    from lab.pricer.data import prompt_completion

    items = prompt_completion("test", n=2)
    sent = [req.json for req in wire.requests]
    assert [s["model"] for s in sent] == [FT, FT]
    assert sent[0]["messages"] == [
        {"role": "system", "content": D.SYSTEM},
        {"role": "user", "content": D.user_text(items[0]["prompt"])},
    ]
    assert sent[0]["temperature"] == 0.0
    assert [row["guess"] for row in r["rows"]] == [120.0, 120.0] and r["n"] == 2
    assert r["mae"] == pytest.approx(sum(abs(120 - i["price"]) for i in items) / 2)


def test_a_web_page_instead_of_the_api_is_explained(wire, tmp_settings):
    from lab.core.errors import ProviderError

    wire.queue(body=b"<html>Welcome to nginx</html>\n", content_type="text/html")
    with pytest.raises(ProviderError, match="not JSON: is the base URL an OpenAI-shaped API"):
        J.retrieve("ftjob-abc123", api_key=KEY, base_url=url(wire))
    assert J.records() == {}
