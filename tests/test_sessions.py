"""Per-session folders (lab.classroom.sessions): safe ids, the sweep of idle sessions, runs in several roots, server owners."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lab.classroom import sessions
from lab.core.errors import InputError
from lab.finetune import runner
from lab.finetune.config import RunConfig
from tests.helpers import pairs

A, B = "a1" * 16, "b2" * 16  # uuid4().hex-shaped ids
DAY = 24 * 3600


def _age(folder: Path, seconds: float) -> None:
    """Pretend ``folder``'s session was last seen ``seconds`` ago."""
    t = time.time() - seconds
    os.utime(folder / sessions.MARK, (t, t))


def _run_in(session: str, **status) -> Path:
    run_dir = runner.prepare(
        RunConfig(train_size=8, batch_size=2), train=pairs(8), check=False, root=sessions.session_dir(session, "runs")
    )
    if status:
        runner.write_status(run_dir, **status)
    return run_dir


# ---------------------------------------------------------------------------------------------- ids and folders
@pytest.mark.parametrize(
    "bad",
    ["../x", "..", "", "abc", "A1B2C3D4E5", "a1b2c3d4/../../etc", "a1b2c3d4 ", "/tmp/a1b2c3d4", "f" * 65, "a1b2c3d4\n"],
)
def test_unsafe_ids_are_refused(tmp_settings, bad):
    with pytest.raises(InputError, match="not a session id"):
        sessions.session_dir(bad)
    assert not sessions.root().exists() or not any(sessions.root().iterdir())


def test_session_dir_is_made_under_the_root_and_marks_the_session_seen(tmp_settings):
    import uuid

    sid = uuid.uuid4().hex  # what ui.session.session_id() hands out
    d = sessions.session_dir(sid, "finetune", "openai")
    assert d == tmp_settings.data_dir / "sessions" / sid / "finetune" / "openai" and d.is_dir()
    mark = d.parent.parent / sessions.MARK
    _age(d.parent.parent, 3600)
    sessions.session_dir(sid)  # using it again refreshes the mark
    assert time.time() - mark.stat().st_mtime < 60
    assert sessions.check_id(str(uuid.uuid4())) and sessions.owner_of(d / "x.gguf") == d.parent.parent
    assert sessions.owner_of(tmp_settings.data_dir / "models" / "x.gguf") is None
    for part in ("..", "a/b", "."):
        with pytest.raises(InputError, match="plain folder name"):
            sessions.session_dir(sid, part)


def test_ttl_setting_is_validated(monkeypatch):
    from pydantic import ValidationError

    from lab.core.settings import Settings

    assert Settings().session_ttl_hours == 24 and "swept" in Settings.model_fields["session_ttl_hours"].description
    monkeypatch.setenv("LAB_SESSION_TTL_HOURS", "0.5")
    assert Settings().session_ttl_hours == 0.5
    for bad in ("0", "-3", "soon"):
        monkeypatch.setenv("LAB_SESSION_TTL_HOURS", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_quota_setting_is_validated(monkeypatch):
    from pydantic import ValidationError

    from lab.core.settings import Settings

    assert Settings().session_quota_mb == 2048 and "upload" in Settings.model_fields["session_quota_mb"].description
    monkeypatch.setenv("LAB_SESSION_QUOTA_MB", "64")
    assert Settings().session_quota_mb == 64
    for bad in ("0", "-1", "lots", "1.5"):
        monkeypatch.setenv("LAB_SESSION_QUOTA_MB", bad)
        with pytest.raises(ValidationError):
            Settings()


def test_mark_seen_refreshes_an_existing_folder_and_never_creates_one(tmp_settings, tmp_path):
    assert sessions.mark_seen(A) is False and not (sessions.root() / A).exists()  # a session that only chats
    folder = sessions.session_dir(A)
    _age(folder, 2 * DAY)
    assert sessions.mark_seen(A) is True and time.time() - sessions.last_seen(folder) < 60
    assert sessions.sweep(DAY) == [] and folder.is_dir()  # so the sweep keeps it
    (tmp_path / "elsewhere").mkdir()
    sessions.root().joinpath(B).symlink_to(tmp_path / "elsewhere", target_is_directory=True)
    assert sessions.mark_seen(B) is False and not (tmp_path / "elsewhere" / sessions.MARK).exists()
    with pytest.raises(InputError, match="not a session id"):
        sessions.mark_seen("../etc")
    assert sessions.session_path(A, "models") == folder / "models" and not (folder / "models").exists()


def test_ui_marks_an_open_session_seen_at_most_every_few_minutes(tmp_settings, monkeypatch):
    from ui import session as secrets

    calls = []
    state: dict = {}
    monkeypatch.setattr(secrets.st, "session_state", state)
    monkeypatch.setattr(sessions, "mark_seen", lambda sid: calls.append(sid) or True)
    assert secrets.keep_seen(now=1000.0) is False and calls == []  # no id yet: nothing to mark
    state["_session_id"] = A
    assert secrets.keep_seen(now=1000.0) is True and calls == [A]
    assert secrets.keep_seen(now=1000.0 + secrets.SEEN_EVERY_S - 1) is False and calls == [A]
    assert secrets.keep_seen(now=1000.0 + secrets.SEEN_EVERY_S + 1) is True and calls == [A, A]

    def broken(sid):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(sessions, "mark_seen", broken)
    assert secrets.keep_seen(now=9999.0) is True  # logged, never raised


# ---------------------------------------------------------------------------------------------- the quota
def test_an_upload_past_the_session_quota_is_refused_and_leaves_nothing(tmp_settings, tmp_path, monkeypatch):
    import io

    from lab.core.settings import get_settings
    from lab.gguf import models
    from tests.helpers import write_tiny_gguf

    monkeypatch.setenv("LAB_SESSION_QUOTA_MB", "1")
    get_settings.cache_clear()
    data = write_tiny_gguf(tmp_path / "src.gguf").read_bytes()
    up = sessions.session_dir(A, "models")
    filler = sessions.session_dir(A, "runs") / "checkpoint.bin"
    filler.write_bytes(b"x" * (2**20 - len(data) // 2))  # the session already keeps ~1 MB
    with pytest.raises(
        InputError,
        match=r"Saving mine.gguf would take your session over its quota of 1 MB "
        r"\(LAB_SESSION_QUOTA_MB\): the session already uses 1.0 MB",
    ):
        models.save_upload(io.BytesIO(data), "mine.gguf", folder=up)
    assert list(up.iterdir()) == []  # no file, not even a .part
    assert models.save_upload(io.BytesIO(data), "other.gguf", folder=sessions.session_dir(B, "models")).exists()
    assert models.save_upload(io.BytesIO(data), "shared.gguf").exists()  # the shared folder has no session quota
    filler.write_bytes(b"x" * (2**20 - 3 * len(data) // 2))
    assert models.save_upload(io.BytesIO(data), "mine.gguf", folder=up).exists()
    assert sessions.usage_bytes(sessions.root() / A) == filler.stat().st_size + len(data)
    assert models.save_upload(io.BytesIO(data), "mine.gguf", folder=up).exists()  # replacing it frees its size
    with pytest.raises(InputError, match="quota"):
        models.save_upload(io.BytesIO(data), "second.gguf", folder=up)
    assert sorted(p.name for p in up.iterdir()) == ["mine.gguf"]


def test_usage_counts_links_as_links(tmp_settings, tmp_path):
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 100_000)
    folder = sessions.session_dir(A, "models")
    (folder / "small.bin").write_bytes(b"x" * 10)
    (folder / "link.bin").symlink_to(big)
    (folder.parent / "dir-link").symlink_to(tmp_path, target_is_directory=True)
    assert 10 <= sessions.usage_bytes(folder.parent) < 10_000


# ---------------------------------------------------------------------------------------------- the sweep
@pytest.fixture
def keep_alive(monkeypatch):
    """The sweep's keep-alive checks as the app registers them (ui/session.py): the fine-tune runner's."""
    monkeypatch.setattr(sessions, "_KEEP_ALIVE", [])
    sessions.register_keep_alive(runner.trains_in)
    return sessions._KEEP_ALIVE


def test_sweep_removes_idle_keeps_fresh_and_live_runs(tmp_settings, keep_alive):
    old, fresh, training, ended = "0a" * 16, "0b" * 16, "0c" * 16, "0d" * 16
    (sessions.session_dir(old, "models") / "mine.gguf").write_bytes(b"GGUF")
    sessions.session_dir(fresh)
    live = _run_in(training, state="running", pid=os.getpid(), step=3, max_steps=10)  # this process: alive
    _run_in(ended, state="running", pid=2**22 + 12345, step=3)  # died without saying so
    for sid in (old, training, ended):
        _age(sessions.root() / sid, 2 * DAY)
    _age(sessions.root() / fresh, 3600)
    removed = sessions.sweep(DAY)
    assert sorted(p.name for p in removed) == sorted([old, ended])
    assert not (sessions.root() / old).exists() and not (sessions.root() / ended).exists()
    assert (sessions.root() / fresh).is_dir() and live.is_dir()
    runner.write_status(live, state="finished")  # once it ends, its folder goes at the next sweep
    assert [p.name for p in sessions.sweep(DAY)] == [training]
    assert sessions.sweep(DAY, now=time.time() + 2 * 3600) == [] and (sessions.root() / fresh).is_dir()
    assert [p.name for p in sessions.sweep(DAY, now=time.time() + 2 * DAY)] == [fresh]


def test_a_keep_alive_check_that_fails_keeps_the_folder_and_registering_twice_adds_nothing(
    tmp_settings, keep_alive, caplog
):
    idle = sessions.session_dir("0a" * 16)
    _age(idle, 2 * DAY)
    sessions.register_keep_alive(runner.trains_in)
    assert keep_alive == [runner.trains_in]

    def unreadable(folder):
        raise PermissionError("cannot read runs")

    sessions.register_keep_alive(unreadable)
    with caplog.at_level("WARNING"):
        assert sessions.sweep(DAY) == [] and idle.is_dir()  # when in doubt, kept
    assert "keep-alive check" in caplog.text and "PermissionError" in caplog.text
    keep_alive.remove(unreadable)
    assert [p.name for p in sessions.sweep(DAY)] == ["0a" * 16]


def test_the_ui_registers_the_runner_check_before_it_sweeps(tmp_settings, monkeypatch):
    from ui import session as secrets

    monkeypatch.setattr(sessions, "_KEEP_ALIVE", [])
    monkeypatch.setattr(secrets, "_SWEEP", {"last": float("-inf")})
    live = _run_in("0c" * 16, state="running", pid=os.getpid(), step=3, max_steps=10)
    _age(sessions.root() / ("0c" * 16), 2 * DAY)  # past the default TTL (24 h)
    assert secrets.sweep_now_and_then(now=1000.0) is True
    assert sessions._KEEP_ALIVE == [runner.trains_in] and live.is_dir()  # a run training: its folder stays


def test_sweep_never_follows_links_out_of_the_root(tmp_settings, tmp_path):
    outside = tmp_path / "outside"
    (outside / "keep").mkdir(parents=True)
    (outside / "keep" / "precious.txt").write_text("not the lab's")
    sessions.root().mkdir(parents=True)
    (sessions.root() / ("0e" * 16)).symlink_to(
        outside / "keep", target_is_directory=True
    )  # a link named like a session
    inside = sessions.session_dir("0f" * 16)
    (inside / "link").symlink_to(outside / "keep", target_is_directory=True)  # a link inside a session
    (inside / "runs").symlink_to(outside, target_is_directory=True)
    (sessions.root() / "not-a-session").mkdir()
    for p in (sessions.root() / ("0e" * 16), inside):
        os.utime(p, (1, 1), follow_symlinks=False)
    _age(inside, 2 * DAY)
    assert [p.name for p in sessions.sweep(DAY)] == ["0f" * 16]
    assert (outside / "keep" / "precious.txt").read_text() == "not the lab's"
    assert (sessions.root() / ("0e" * 16)).is_symlink() and (sessions.root() / "not-a-session").is_dir()


def test_ui_sweeps_at_most_every_ten_minutes_and_never_raises(tmp_settings, monkeypatch, caplog):
    from ui import session as secrets

    calls = []
    monkeypatch.setattr(secrets, "_SWEEP", {"last": float("-inf")})
    monkeypatch.setattr(sessions, "sweep_expired", lambda: calls.append(1) or [])
    assert secrets.sweep_now_and_then(now=1000.0) is True
    assert secrets.sweep_now_and_then(now=1000.0 + 599) is False and len(calls) == 1
    assert secrets.sweep_now_and_then(now=1000.0 + 601) is True and len(calls) == 2

    def broken():
        raise PermissionError("read-only file system")

    monkeypatch.setattr(sessions, "sweep_expired", broken)
    with caplog.at_level("WARNING"):
        assert secrets.sweep_now_and_then(now=5000.0) is True  # logged, not raised
    assert "session sweep failed: PermissionError" in caplog.text


# ---------------------------------------------------------------------------------------------- runs in many roots
def test_runs_stay_in_their_root_and_one_trains_at_a_time_across_roots(tmp_settings):
    mine = _run_in(A)
    assert runner.list_runs(sessions.session_dir(B, "runs")) == []
    assert [r["run_id"] for r in runner.list_runs(sessions.session_dir(A, "runs"))] == [mine.name]
    assert runner.list_runs() == []  # the CLI's root: untouched
    assert runner.active_run() is None
    runner.write_status(mine, state="running", pid=os.getpid(), step=3, max_steps=10)
    try:
        busy = runner.active_run()
        assert busy["run_id"] == mine.name and runner.in_root(busy, sessions.session_dir(A, "runs"))
        assert not runner.in_root(busy, sessions.session_dir(B, "runs")) and not runner.in_root(busy)
        for root in (sessions.session_dir(B, "runs"), None):  # another session, and the CLI
            with pytest.raises(InputError) as e:
                runner._refuse_if_busy(root)
            msg = str(e.value)
            assert "Another session's run is training now, step 3 of 10" in msg
            assert mine.name not in msg and str(tmp_settings.data_dir) not in msg
        with pytest.raises(InputError, match=f"run {mine.name} is still running"):
            runner._refuse_if_busy(sessions.session_dir(A, "runs"))  # its own session is told which run
    finally:
        runner.write_status(mine, state="stopped")
    assert runner.active_run() is None


def test_ladder_lists_runs_of_the_given_roots_and_builds_session_sources_in_the_session(tmp_settings):
    from lab.gguf.ladder import finetune_runs, workdir_for

    theirs, mine = _run_in(A), _run_in(B)
    for run in (theirs, mine):
        (run / "adapter").mkdir()
        (run / "adapter" / "adapter_config.json").write_text("{}")
    assert finetune_runs([runner.runs_dir(), sessions.session_dir(B, "runs")]) == [mine]
    assert finetune_runs() == []
    upload = sessions.session_dir(B, "models") / "m.gguf"
    assert workdir_for(upload) == sessions.root() / B / "gguf" / "ladder" / "m"
    assert workdir_for(Path("/opt/models/m.gguf")) == tmp_settings.data_dir / "gguf" / "ladder" / "m"


# ---------------------------------------------------------------------------------------------- GGUF servers
@pytest.fixture
def fake_servers():
    """Two registered 'servers' (sleeping children) owned by A and B; removed afterwards."""
    from lab.gguf import server

    procs = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in range(2)]
    handles = [
        server.ServerHandle(p, "127.0.0.1", 60001 + i, "m.gguf", Path(os.devnull), owner)
        for i, (p, owner) in enumerate(zip(procs, (A, B)))
    ]
    with server._SERVERS_LOCK:
        for h in handles:
            server._SERVERS[h.port] = h
    yield handles
    with server._SERVERS_LOCK:
        for h in handles:
            server._SERVERS.pop(h.port, None)
    for p in procs:
        p.kill()
        p.wait()


def test_servers_are_listed_and_stopped_by_their_owner_only(fake_servers):
    from lab.gguf import server

    a, b = fake_servers
    assert server.running(owner=A) == [a] and server.running(owner=B) == [b]
    assert a in server.running() and b in server.running()  # the lab itself stays generic
    with pytest.raises(InputError, match="only the servers you started"):
        server.stop(a, owner=B)
    with pytest.raises(InputError, match="only the servers you started"):
        server.stop(a.port, owner=B)
    assert a.alive and a in server.running()
    server.stop(a, owner=A)
    assert not a.alive and server.running(owner=A) == [] and b.alive


def test_server_cap_refuses_with_the_setting_named(fake_servers, tmp_settings, monkeypatch, tmp_path):
    from lab.core.settings import get_settings
    from lab.gguf import server
    from tests.helpers import write_tiny_gguf

    monkeypatch.setenv("LAB_MAX_SERVERS", "2")
    get_settings.cache_clear()
    model = write_tiny_gguf(tmp_path / "t.gguf")
    before = len(server.running())
    with pytest.raises(InputError, match=r"LAB_MAX_SERVERS=2\).*Stop one of yours"):
        server.start(model, port=60010, owner=A)
    assert len(server.running()) == before and server._STARTING[0] == 0  # nothing spawned, the slot released
