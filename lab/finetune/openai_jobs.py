"""OpenAI fine-tuning jobs through the real ``openai`` SDK: upload, create, follow, cancel, then score the model.

The whole course loop, each step one SDK call (errors become the lab's, with the fix in the message):

    >>> job = launch("train.jsonl", "validation.jsonl", model="gpt-4o-mini-2024-07-18", epochs=1)  # doctest: +SKIP
    >>> job["id"], job["status"]                                                                   # doctest: +SKIP
    ('ftjob-abc123', 'validating_files')
    >>> view = follow("ftjob-abc123")      # status, events newest first, losses; a drop is reported  # doctest: +SKIP
    >>> view["job"]["status"], view["job"]["fine_tuned_model"]                                      # doctest: +SKIP
    ('succeeded', 'ft:gpt-4o-mini-2024-07-18:my-org:pricer:AbC123')
    >>> score_model("ft:gpt-4o-mini-2024-07-18:my-org:pricer:AbC123", n=20)["mae"]                  # doctest: +SKIP

``launch`` validates both files first (lab.finetune.openai_data) and uploads nothing when a line is wrong. Every
job id is written to a records file the moment OpenAI returns it, so a network drop while polling loses nothing:
``follow`` reports the drop and the next poll carries on. The CLI keeps one records file,
``<data_dir>/finetune/openai_jobs.json``; the app passes ``records_dir=`` its browser session's own folder
(``<data_dir>/sessions/<id>/finetune/openai``, see ``SESSION_FOLDER``), so a student's jobs and fine-tuned model
ids never appear in a classmate's session.

The loss curve comes from the "metrics" events (``data.step``, ``data.train_loss``, ``data.valid_loss``) or, once
finished, from the job's result file (a CSV, which the API returns base64-encoded).

This is the one place outside ``lab/llm`` that calls an SDK: fine-tuning is not a chat provider. The fine-tuned
model itself is then an ordinary model id of the ``openai`` provider. One module because upload, launch,
follow and the job records are the lifecycle of one API's job, sharing its client and its records file; ~380 lines.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import re
import threading
import time
from pathlib import Path

from lab.core.errors import InputError, ProviderError, ProviderTimeout, ProviderUnavailable

TERMINAL = ("succeeded", "failed", "cancelled")
SESSION_FOLDER = (
    "finetune",
    "openai",
)  # where the app keeps a session's records: lab.classroom.sessions.session_dir(id, *this)
RECORDS_FILE = "openai_jobs.json"
WANDB_PROJECT = "gpt-pricer"  # the course's W&B project name


def client(api_key: str | None = None, base_url: str | None = None, *, typed_base_url: bool = False):
    """Built like the openai provider's client (``lab.core.clients.openai_client``): key explicit -> OPENAI_API_KEY
    -> an error naming it.

    ``typed_base_url=True`` (the app sets it for the tab's base URL field and for base URLs recorded from it; the
    CLI does not): the URL passes the address guard and is sent only an explicit key or none, never
    OPENAI_API_KEY - the rule of ``lab.core.keys``."""
    from lab.core.clients import openai_client
    from lab.core.keys import is_configured_base_url, resolve_key
    from lab.core.netguard import check_base_url

    if base_url is not None:
        base_url = check_base_url(base_url, provider="openai", typed=typed_base_url)
    # A server the visitor chose gets their key or none ("not-needed": the SDK insists on some string).
    own_server = typed_base_url and not is_configured_base_url("openai", base_url)
    key = (
        resolve_key("openai", api_key, required=not own_server, base_url=base_url, typed_base_url=typed_base_url)
        or "not-needed"
    )
    # max_retries=0: a drop must reach the caller (who keeps the job id and polls again), not hang in retries.
    return openai_client(api_key=key, base_url=base_url, max_retries=0)


def _sdk(call, base_url: str | None):
    """Run one SDK call; its exceptions become the lab's (AuthError, ProviderUnavailable, ProviderError...)."""
    import openai

    from lab.llm.errors import translate

    try:
        out = call()
    except openai.OpenAIError as e:
        raise translate(e, openai, "openai", base_url) from e
    if isinstance(out, str):  # a 200 that is not JSON: e.g. a base URL pointing at a web page, not an API
        from lab.core.errors import excerpt

        raise ProviderError(
            f"openai at {excerpt(base_url or 'api.openai.com')} answered with text, not JSON: is the "
            f"base URL an OpenAI-shaped API (ending in /v1)? It began: {excerpt(out, 80)!r}"
        )
    return out


# ---------------------------------------------------------------------------------------------- job records
_LOCK = threading.Lock()


def records_path(records_dir: str | Path | None = None) -> Path:
    """``<records_dir>/openai_jobs.json``; without a folder, the CLI's ``<data_dir>/finetune/openai_jobs.json``."""
    from lab.core.settings import get_settings

    return Path(records_dir or get_settings().data_dir / "finetune") / RECORDS_FILE


def records(records_dir: str | Path | None = None) -> dict[str, dict]:
    """Job id -> what we last knew (status, model, files, fine-tuned model, base_url). Missing/damaged -> empty."""
    try:
        data = json.loads(records_path(records_dir).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remember(job: dict, base_url: str | None = None, records_dir: str | Path | None = None) -> dict:
    """Keep a job's summary in ``records_dir``'s records (atomic replace under a lock: a session may follow a job
    from two tabs, and the CLI's file is shared)."""
    keep = (
        "id",
        "status",
        "model",
        "fine_tuned_model",
        "training_file",
        "validation_file",
        "created_at",
        "finished_at",
        "trained_tokens",
        "seed",
    )
    with _LOCK:
        rows = records(records_dir)
        row = rows.get(job["id"], {}) | {k: job.get(k) for k in keep if k in job} | {"updated_at": int(time.time())}
        if base_url is not None:
            row["base_url"] = base_url
        if job.get("error") and (job["error"] or {}).get("message"):
            row["error"] = job["error"]["message"]
        rows[job["id"]] = row
        path = records_path(records_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(rows, indent=1))
        os.replace(tmp, path)
    return row


def fine_tuned_models(records_dir: str | Path | None = None) -> list[str]:
    """Model ids of succeeded jobs in ``records_dir``'s records, newest first: usable as
    ``--provider openai --model <id>``."""
    rows = sorted(records(records_dir).values(), key=lambda r: r.get("created_at") or 0, reverse=True)
    return [r["fine_tuned_model"] for r in rows if r.get("fine_tuned_model")]


# ---------------------------------------------------------------------------------------------- launch
def upload(
    path: str | Path, *, api_key: str | None = None, base_url: str | None = None, typed_base_url: bool = False
) -> dict:
    path = Path(path)
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    with path.open("rb") as f:
        return _sdk(lambda: c.files.create(file=(path.name, f), purpose="fine-tune"), base_url).model_dump()


def wandb_integration(project: str | None = None) -> list[dict] | None:
    """The W&B integration when asked for (or WANDB_API_KEY is set). The W&B key itself is linked once in
    OpenAI's organization settings; the request only names the project."""
    project = project or os.environ.get("WANDB_PROJECT") or (WANDB_PROJECT if os.environ.get("WANDB_API_KEY") else None)
    return [{"type": "wandb", "wandb": {"project": project}}] if project else None


def launch(
    train: str | Path,
    validation: str | Path | None = None,
    *,
    model: str | None = None,
    epochs: int = 1,
    seed: int | None = 42,
    suffix: str | None = "pricer",
    wandb_project: str | None = None,
    api_key: str | None = None,
    base_url: str | None = None,
    records_dir: str | Path | None = None,
    typed_base_url: bool = False,
) -> dict:
    """Validate, upload (purpose fine-tune), create the job; the job id is recorded (in ``records_dir``'s
    records) before this returns."""
    from lab.finetune.openai_data import DEFAULT_MODEL, validate

    # OpenAI's minimum of 10 examples is for the training file; a validation file may be small.
    for path, least in [(train, None), (validation, 1)] if validation else [(train, None)]:
        report = validate(path, **({"min_examples": least} if least else {}))
        if not report.ok:
            first = report.errors[0]
            raise InputError(
                f"{path} has {len(report.errors)} problem(s), so nothing was uploaded; first: line "
                f"{first['line']}: {first['error'].rstrip('.')}. "
                f"Run: python -m lab finetune openai validate {path}"
            )
    if not 1 <= epochs <= 25:
        raise InputError("epochs must be between 1 and 25 (the course used 1).")
    if suffix and len(suffix) > 64:
        raise InputError("The suffix may be at most 64 characters.")
    t = {"typed_base_url": typed_base_url}
    client(api_key, base_url, **t)  # a missing key or a refused address fails here, before any upload
    train_id = upload(train, api_key=api_key, base_url=base_url, **t)["id"]
    val_id = upload(validation, api_key=api_key, base_url=base_url, **t)["id"] if validation else None
    params: dict = {
        "model": model or DEFAULT_MODEL,
        "training_file": train_id,
        "seed": seed,
        "suffix": suffix or None,
        # `hyperparameters` is deprecated in the SDK: epochs go under the supervised method.
        "method": {"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": epochs}}},
    }
    if val_id:
        params["validation_file"] = val_id
    integrations = wandb_integration(wandb_project)
    if integrations:
        params["integrations"] = integrations
    c = client(api_key, base_url, **t)
    job = _sdk(
        lambda: c.fine_tuning.jobs.create(**{k: v for k, v in params.items() if v is not None}), base_url
    ).model_dump()
    remember(job, base_url, records_dir)
    return job


# ---------------------------------------------------------------------------------------------- follow
def retrieve(
    job_id: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    records_dir: str | Path | None = None,
    typed_base_url: bool = False,
) -> dict:
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    job = _sdk(lambda: c.fine_tuning.jobs.retrieve(job_id), base_url).model_dump()
    remember(job, base_url, records_dir)
    return job


def events(
    job_id: str,
    *,
    limit: int = 100,
    api_key: str | None = None,
    base_url: str | None = None,
    typed_base_url: bool = False,
) -> list[dict]:
    """The job's events, newest first (the API's order; sorted again so a proxy cannot scramble it)."""
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    page = _sdk(lambda: c.fine_tuning.jobs.list_events(job_id, limit=limit), base_url)
    rows = [e.model_dump() for e in page.data]
    return sorted(rows, key=lambda e: e["created_at"], reverse=True)


def list_jobs(
    *, limit: int = 20, api_key: str | None = None, base_url: str | None = None, typed_base_url: bool = False
) -> list[dict]:
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    return [j.model_dump() for j in _sdk(lambda: c.fine_tuning.jobs.list(limit=limit), base_url).data]


def cancel(
    job_id: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    records_dir: str | Path | None = None,
    typed_base_url: bool = False,
) -> dict:
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    job = _sdk(lambda: c.fine_tuning.jobs.cancel(job_id), base_url).model_dump()
    remember(job, base_url, records_dir)
    return job


_STEP = re.compile(r"Step (\d+)/\d+: training loss=([\d.]+)(?:, validation loss=([\d.]+))?")


def metrics_from_events(rows: list[dict]) -> list[dict]:
    """[{"step", "train_loss", "valid_loss"?}] by step, from "metrics" events (their data, else their message)."""
    out: dict[int, dict] = {}
    for e in rows:
        data = e.get("data") if isinstance(e.get("data"), dict) else {}
        if "step" in data and "train_loss" in data:
            row = {"step": int(data["step"]), "train_loss": float(data["train_loss"])}
            valid = data.get("full_valid_loss", data.get("valid_loss"))
            if valid is not None:
                row["valid_loss"] = float(valid)
        elif m := _STEP.search(e.get("message") or ""):
            row = {"step": int(m[1]), "train_loss": float(m[2])} | ({"valid_loss": float(m[3])} if m[3] else {})
        else:
            continue
        out[row["step"]] = out.get(row["step"], {}) | row
    return [out[k] for k in sorted(out)]


def metrics_from_result(content: bytes) -> list[dict]:
    """The result file (step,train_loss,...,valid_loss,... CSV; base64-encoded as the API returns it)."""
    text = content.decode("utf-8", "replace").strip()
    if not text.startswith("step"):
        try:
            text = base64.b64decode(text).decode("utf-8").strip()
        except ValueError as e:
            raise InputError("The result file is neither CSV nor base64-encoded CSV.") from e
    rows = []
    for r in csv.DictReader(io.StringIO(text)):
        row = {"step": int(float(r["step"]))}
        for key in ("train_loss", "valid_loss"):
            if (r.get(key) or "").strip():
                row[key] = float(r[key])
        rows.append(row)
    return rows


def result_metrics(
    job: dict, *, api_key: str | None = None, base_url: str | None = None, typed_base_url: bool = False
) -> list[dict]:
    if not job.get("result_files"):
        return []
    c = client(api_key, base_url, typed_base_url=typed_base_url)
    content = _sdk(lambda: c.files.content(job["result_files"][0]).content, base_url)
    return metrics_from_result(content)


def follow(
    job_id: str,
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    records_dir: str | Path | None = None,
    typed_base_url: bool = False,
) -> dict:
    """One poll: {"job", "events", "metrics", "reachable", "problem"}. A drop or timeout does not raise: the view
    keeps the last known job (from ``records_dir``'s records) and says what happened; the next poll resumes.
    A base URL taken from the records is as trusted as the one it was recorded from (``typed_base_url``)."""
    known = records(records_dir).get(job_id)
    if base_url is None and known:
        base_url = known.get("base_url")
    t = {"api_key": api_key, "base_url": base_url, "typed_base_url": typed_base_url}
    try:
        job = retrieve(job_id, records_dir=records_dir, **t)
        evs = events(job_id, **t)
        metrics = metrics_from_events(evs)
        if job["status"] == "succeeded" and job.get("result_files"):
            metrics = result_metrics(job, **t) or metrics
    except (ProviderUnavailable, ProviderTimeout) as e:
        return {
            "job": known or {"id": job_id},
            "events": [],
            "metrics": [],
            "reachable": False,
            "problem": f"{e} The job id {job_id} is kept; polling resumes on the next refresh.",
        }
    return {"job": job, "events": evs, "metrics": metrics, "reachable": True, "problem": None}


# ---------------------------------------------------------------------------------------------- use it
def score_model(
    model_id: str,
    n: int = 20,
    api_key: str | None = None,
    base_url: str | None = None,
    provider: str = "openai",
    typed_base_url: bool = False,
) -> dict:
    """Ask the model for the price of ``n`` pricer test items with the training prompts, score as the pricer."""
    from lab.finetune.openai_data import SYSTEM, user_text
    from lab.llm import Options, get_provider, run
    from lab.pricer.data import prompt_completion
    from lab.pricer.metrics import parse_price, score

    items = prompt_completion("test", n=n)
    if not items:
        raise InputError("n must be at least 1 test item.")
    p = get_provider(provider, api_key=api_key, base_url=base_url, typed_base_url=typed_base_url)
    model = model_id if provider != "local" else None
    opts = Options(temperature=0.0, max_tokens=16, seed=42)  # greedy: a rerun gives the same scoreboard
    rows = []
    for it in items:
        msgs = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user_text(it["prompt"])}]
        reply = run(p, msgs, model=model, options=opts).text
        rows.append({"title": it["title"], "price": it["price"], "reply": reply, "guess": parse_price(reply)})
    result = score([r["price"] for r in rows], [r["guess"] for r in rows])
    return {"model": model_id, "provider": provider} | result | {"rows": rows}
