"""Runs on disk: launch training as a background process, follow it, stop it, resume it, list past runs.

A run is a folder ``<runs root>/<run_id>/``; everything about it lives there, so a rerun of the page just reads the
folder again. The runs root is ``<data_dir>/runs`` for the CLI (the default) and
``<data_dir>/sessions/<session id>/runs`` for a page's session (``lab.sessions``), so students see only their own
runs. The training process (``lab.finetune.trainer``) writes, the page reads:

    >>> info = launch(RunConfig(max_steps=20))              # doctest: +SKIP
    >>> status(info)["state"], [p["loss"] for p in progress(info)][:3]     # a few seconds later
    ('running', [3.91, 3.62, 3.40])
    >>> stop(info); wait(info)["state"]                     # checkpoint saved at the current step
    'stopped'
    >>> resume(info); wait(info)["state"]                   # doctest: +SKIP
    'finished'

States: starting -> loading -> running -> (stopping ->) stopped | finished | failed. A run whose process died
without saying so (killed, machine restarted) reads as ``interrupted``; its checkpoints and logs remain and
``resume`` continues from the last checkpoint. Only one run trains at a time on the machine, whatever its root:
a second launch is refused (``active_run`` looks in every root; the launch lock lives in the default one).
One module because the status files and the lifecycle read and write the same run folder and the same states;
~360 lines.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

from lab.core.errors import InputError
from lab.core.settings import REPO_ROOT, get_settings
from lab.finetune.config import RunConfig

STOP_FILE = "STOP"
LIVE_STATES = ("starting", "loading", "running", "stopping")
_PROCS: dict[str, subprocess.Popen] = {}  # children of this process, so they are reaped (no zombies)


def runs_dir(root: Path | None = None) -> Path:
    """The runs root, created: ``root`` when given (a session's), else ``<data_dir>/runs`` (the CLI's)."""
    d = Path(root) if root is not None else get_settings().data_dir / "runs"
    d.mkdir(parents=True, exist_ok=True)
    return d


def all_roots() -> list[Path]:
    """Every runs root on this machine: the CLI's, then each session's (links skipped, never followed)."""
    from lab.classroom import sessions

    roots = [runs_dir()]
    top = sessions.root()
    if top.is_dir():
        for d in sorted(top.iterdir()):
            if not d.is_symlink() and not (d / "runs").is_symlink() and (d / "runs").is_dir():
                roots.append(d / "runs")
    return roots


def run_path(run: str | Path, root: Path | None = None) -> Path:
    """A run id (folder name under the runs root) or a path to a run folder -> the folder, checked."""
    p = Path(run)
    p = p if p.is_dir() else runs_dir(root) / str(run)
    if not (p / "config.yaml").exists():
        raise InputError(f"{run} is not a run folder (no config.yaml); list runs with the page or runs_dir()")
    return p


# ---------------------------------------------------------------------------------------------- status files
def write_status(run_dir: Path, **fields) -> dict:
    """Merge ``fields`` into status.json atomically (a reader never sees half a file)."""
    path = Path(run_dir) / "status.json"
    st = json.loads(path.read_text()) if path.exists() else {}
    st.update(fields, updated=time.time())
    tmp = path.with_name(f"status.json.tmp{os.getpid()}")
    tmp.write_text(json.dumps(st, indent=1))
    os.replace(tmp, path)
    return st


def pid_alive(pid: int | None) -> bool:
    if not pid:
        return False
    proc = _PROCS.get(str(pid))
    if proc is not None:
        return proc.poll() is None
    import psutil

    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def status(run: str | Path) -> dict:
    """status.json plus the derived facts: run_id, whether its process lives, ``interrupted`` when it died silently."""
    run_dir = run_path(run)
    path = run_dir / "status.json"
    st = json.loads(path.read_text()) if path.exists() else {"state": "prepared"}
    st["run_id"] = run_dir.name
    st["run_dir"] = str(run_dir)
    st["alive"] = pid_alive(st.get("pid"))
    if st.get("state") in LIVE_STATES and not st["alive"]:
        st["state"] = "interrupted"
    ckpt = last_checkpoint(run_dir)
    st["checkpoint"] = str(ckpt) if ckpt else None
    st["adapter"] = str(run_dir / "adapter") if (run_dir / "adapter" / "adapter_config.json").exists() else None
    return st


def progress(run: str | Path) -> list[dict]:
    """The logged rows so far: step, loss / eval_loss, learning_rate, steps_per_s, eta_s."""
    path = run_path(run) / "progress.jsonl"
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:  # the trainer may be writing this very line
            pass
    return rows


def last_checkpoint(run_dir: Path) -> Path | None:
    """The newest ``checkpoints/checkpoint-N`` by N (transformers' get_last_checkpoint, without importing it)."""
    ckpts = [p for p in (Path(run_dir) / "checkpoints").glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(ckpts, key=lambda p: int(p.name.split("-")[-1]), default=None)


def list_runs(root: Path | None = None) -> list[dict]:
    """Past and present runs under one root (default: the CLI's), newest first, with config highlights and losses."""
    out = []
    for d in sorted(runs_dir(root).iterdir(), reverse=True):
        if not (d / "config.yaml").exists():
            continue
        st = status(d)
        cfg = RunConfig.from_yaml(d / "config.yaml")
        losses = [p["loss"] for p in progress(d) if "loss" in p]
        evals = [p["eval_loss"] for p in progress(d) if "eval_loss" in p]
        out.append(
            {
                "run_id": d.name,
                "state": st["state"],
                "step": st.get("step"),
                "max_steps": st.get("max_steps"),
                "first_loss": losses[0] if losses else None,
                "last_loss": losses[-1] if losses else None,
                "last_eval_loss": evals[-1] if evals else None,
                "peak_bytes": st.get("peak_bytes"),
                "base_model": cfg.base_model,
                "quantization": cfg.quantization,
                "lora_r": cfg.lora_r,
                "targets": ",".join(cfg.target_modules),
                "lr": cfg.learning_rate,
                "batch": cfg.batch_size,
                "started": st.get("started"),
            }
        )
    return out


def live_run_in(root: Path) -> dict | None:
    """The run under ``root`` that is training now (live state, process alive), if any; links never followed."""
    if root.is_symlink() or not root.is_dir():
        return None
    for d in root.iterdir():
        if not d.is_symlink() and (d / "status.json").is_file() and (d / "config.yaml").exists():
            try:
                st = status(d)
            except (OSError, ValueError):  # a status.json being rewritten or damaged: not a live run
                continue
            if st["state"] in LIVE_STATES:
                return st
    return None


def trains_in(session_folder: Path) -> bool:
    """True when a run in a session's folder (``<folder>/runs``) is training now: the keep-alive check the app
    registers with ``lab.classroom.sessions.register_keep_alive``, so the TTL sweep never removes a live run."""
    return live_run_in(Path(session_folder) / "runs") is not None


def active_run() -> dict | None:
    """The run that is training now on this machine, in any root (the CLI's or a session's), if any."""
    for root in all_roots():
        st = live_run_in(root)
        if st:
            return st
    return None


def in_root(st: dict, root: Path | None = None) -> bool:
    """Whether a run's status (from ``status`` / ``active_run``) belongs to ``root`` (default: the CLI's)."""
    return Path(st["run_dir"]).resolve().parent == runs_dir(root).resolve()


def busy_message(st: dict) -> str:
    """What to tell someone whose run this is not: progress only, never its id, config, losses or paths."""
    return (
        f"Another session's run is training now, step {st.get('step') or 0} of {st.get('max_steps') or '?'}; "
        "launch again when it ends (one run trains at a time on this machine)."
    )


# ---------------------------------------------------------------------------------------------- lifecycle
@contextmanager
def _launch_lock():
    """Serialise launches across sessions and processes: check-then-start must not race."""
    with (runs_dir() / ".launch.lock").open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _refuse_if_busy(root: Path | None = None) -> None:
    busy = active_run()
    if busy and not in_root(busy, root):
        raise InputError(busy_message(busy))
    if busy:
        raise InputError(
            f"run {busy['run_id']} is still {busy['state']} (step {busy.get('step') or 0}); "
            "stop it or wait for it to finish before launching another: one run trains at a time."
        )


def prepare(
    cfg: RunConfig,
    train: list[dict] | None = None,
    val: list[dict] | None = None,
    check: bool = True,
    root: Path | None = None,
) -> Path:
    """A new run folder under ``root`` (default: the CLI's) with config.yaml and the data files. Pairs default to
    the pricer's (``data.load_pairs``)."""
    from lab.finetune import data

    if train is None:
        train, val = data.load_pairs(cfg)
    val = val or []
    if len(train) < cfg.batch_size:
        raise InputError(f"{len(train)} training items is fewer than batch_size {cfg.batch_size}; lower batch_size")
    if check:
        data.check_lengths(data.length_report(data.tokenizer_for(cfg), train, cfg.max_seq_length))
    run_dir = runs_dir(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:4]}"
    run_dir.mkdir(parents=True)
    cfg.save(run_dir / "config.yaml")
    data.write_jsonl(train, run_dir / "train.jsonl")
    data.write_jsonl(val, run_dir / "val.jsonl")
    write_status(run_dir, state="prepared", n_train=len(train), n_val=len(val))
    return run_dir


def command(run_dir: Path, resume: bool = False) -> list[str]:
    """The exact command that trains a prepared run (what the page launches, and what a learner can paste)."""
    return [sys.executable, "-m", "lab.finetune.trainer", str(run_dir)] + (["--resume"] if resume else [])


def _spawn(run_dir: Path, resume: bool) -> dict:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO_ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        PYTHONUNBUFFERED="1",
        TOKENIZERS_PARALLELISM="false",
    )
    log = (run_dir / "train.log").open("a")
    # start_new_session: the run outlives the page's script thread and a Streamlit rerun or reload
    proc = subprocess.Popen(
        command(run_dir, resume),
        cwd=str(REPO_ROOT),
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    _PROCS[str(proc.pid)] = proc
    return write_status(run_dir, state="starting", pid=proc.pid, launched=time.time(), ended=None)


def launch(
    cfg: RunConfig, train: list[dict] | None = None, val: list[dict] | None = None, root: Path | None = None
) -> Path:
    """Prepare a run under ``root`` and start training it in the background; refused while any run trains."""
    from lab.core.device import device
    from lab.finetune.translate import check_device

    check_device(cfg, device())
    with _launch_lock():
        _refuse_if_busy(root)
        run_dir = prepare(cfg, train, val, root=root)
        _spawn(run_dir, resume=False)
    return run_dir


def resume(run: str | Path) -> Path:
    """Continue a stopped or interrupted run from its last checkpoint, in the background."""
    run_dir = run_path(run)
    st = status(run_dir)
    if st["state"] == "finished":
        raise InputError(f"run {run_dir.name} already finished; launch a new run (or raise max_steps in a copy)")
    if not st["checkpoint"]:
        raise InputError(
            f"run {run_dir.name} has no checkpoint yet (one is written every save_steps and at a Stop); "
            "launch it again instead"
        )
    with _launch_lock():
        _refuse_if_busy(run_dir.parent)
        _spawn(run_dir, resume=True)
    return run_dir


def stop(run: str | Path) -> dict:
    """Ask a run to stop cleanly: a STOP file plus SIGTERM; the trainer checkpoints at the next step and exits."""
    import signal

    run_dir = run_path(run)
    (run_dir / STOP_FILE).touch()
    st = status(run_dir)
    if st["alive"]:
        try:
            os.kill(st["pid"], signal.SIGTERM)
        except ProcessLookupError:
            pass
    return st


def wait(run: str | Path, timeout: float = 600.0, poll: float = 0.5) -> dict:
    """Block until the run has ended and its process exited (or ``timeout`` seconds pass); returns its status."""
    deadline = time.time() + timeout
    while True:
        st = status(run)
        if (st["state"] not in LIVE_STATES and not st["alive"]) or time.time() > deadline:
            return st
        time.sleep(poll)


def run_foreground(cfg: RunConfig, train: list[dict] | None = None, val: list[dict] | None = None, echo=None) -> dict:
    """Prepare and train in this process (the CLI's ``finetune run``); returns status plus losses."""
    from lab.core.device import device
    from lab.finetune import trainer
    from lab.finetune.translate import check_device

    check_device(cfg, device())
    with _launch_lock():
        _refuse_if_busy()
        run_dir = prepare(cfg, train, val)
        write_status(run_dir, state="starting", pid=os.getpid())
    st = trainer.train(run_dir, echo=echo)
    rows = progress(run_dir)
    return st | {
        "run_dir": str(run_dir),
        "losses": [r["loss"] for r in rows if "loss" in r],
        "eval_losses": [r["eval_loss"] for r in rows if "eval_loss" in r],
        "steps": st.get("step"),
    }
