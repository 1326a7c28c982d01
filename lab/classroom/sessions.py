"""Per-session folders: what one browser session writes lives under ``<data_dir>/sessions/<session id>/``.

Thirty students on one server must never see each other's uploads, runs or databases, so every file a session
writes goes below its own folder, and a folder idle longer than the deployment's TTL (``LAB_SESSION_TTL_HOURS``)
is swept away. Shared, public content (the bundled model, Hub downloads, the CLI's runs) stays where it was.

    >>> session_dir("3f2a9c1e0b7d4e6f", "models")          # made on first use; refreshes the "last seen" mark
    PosixPath('~/.cache/llm-engineering-lab/sessions/3f2a9c1e0b7d4e6f/models')
    >>> session_dir("../etc")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: '../etc' is not a session id (8-64 characters from 0-9, a-f and '-').
    >>> mark_seen("3f2a9c1e0b7d4e6f")                       # a session that only chats: refresh, never create
    True
    >>> sweep(24 * 3600)                                     # a day idle, no live fine-tune run -> removed
    [PosixPath('~/.cache/llm-engineering-lab/sessions/0c1d2e3f4a5b6c7d')]
    >>> check_room(session_dir("3f2a9c1e0b7d4e6f"), 3 * 2**30)  # over LAB_SESSION_QUOTA_MB (default 2048)
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: This would take your session over its quota of 2,048 MB (LAB_SESSION_QUOTA_MB): the session already uses 0.0 MB. ...

The "last seen" mark is the mtime of ``.last_seen`` in the session's folder (a folder's own mtime changes only
when an entry is added or removed, not when a file in it is rewritten). ``session_dir`` refreshes it whenever a
page writes there; ``mark_seen`` refreshes it for a session that is open but writes nothing (the app calls it at
most every few minutes per session). ``sweep`` keeps a folder that any registered keep-alive check claims (the
app registers the fine-tune runner's ``trains_in``: a run still training, state live and its process alive),
and never follows a symbolic link. This layer knows no lab; a lab's notion of "still in use" comes in through
``register_keep_alive``:

    >>> register_keep_alive(runner.trains_in)               # ui/session.py does this before it sweeps
    >>> keeps_alive(session_path("3f2a9c1e0b7d4e6f"))        # a run training there now
    True

Each upload is capped on its own (``LAB_UPLOAD_MAX_MB``); ``check_room`` adds a total per session
(``LAB_SESSION_QUOTA_MB``, counting every file already in the session's folder), so one session cannot fill the
disk that thirty share.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import threading
import time
from pathlib import Path
from typing import Callable

from lab.core.errors import InputError
from lab.core.settings import get_settings

SESSION_ID = re.compile(r"[0-9a-f-]{8,64}")
MARK = ".last_seen"
log = logging.getLogger(__name__)


def root() -> Path:
    """``<data_dir>/sessions``: one folder per browser session below it."""
    return get_settings().data_dir / "sessions"


def check_id(session_id: str) -> str:
    """The id itself when it is a safe folder name (hex and dashes, as uuid4 writes them); InputError otherwise."""
    if not isinstance(session_id, str) or not SESSION_ID.fullmatch(session_id):
        raise InputError(f"{session_id!r} is not a session id (8-64 characters from 0-9, a-f and '-').")
    return session_id


def session_path(session_id: str, *parts: str) -> Path:
    """``<sessions root>/<session_id>/<parts...>``, checked but neither created nor marked (for reading)."""
    base = root() / check_id(session_id)
    for part in parts:  # plain names only: a part must never climb out of (or jump past) the session's folder
        if not part or part in (".", "..") or "/" in part or "\\" in part or "\0" in part:
            raise InputError(f"{part!r} is not a plain folder name.")
    return base.joinpath(*parts)


def session_dir(session_id: str, *parts: str) -> Path:
    """``<sessions root>/<session_id>/<parts...>``, created; touching it marks the session as seen now."""
    folder = session_path(session_id, *parts)
    folder.mkdir(parents=True, exist_ok=True)
    (root() / session_id / MARK).touch()
    return folder


def mark_seen(session_id: str) -> bool:
    """Mark an existing session folder as seen now; returns False (and creates nothing) when there is none.

    One stat and one touch: cheap enough for every few minutes of every open session."""
    base = root() / check_id(session_id)
    if base.is_symlink() or not base.is_dir():
        return False
    try:
        (base / MARK).touch()
    except FileNotFoundError:  # swept between the check and the touch
        return False
    return True


def owner_of(path: str | Path) -> Path | None:
    """The session folder that ``path`` lies in, or None when it is outside every session (shared content)."""
    try:
        rel = Path(path).resolve().relative_to(root().resolve())
    except (ValueError, OSError):
        return None
    return root() / rel.parts[0] if rel.parts and SESSION_ID.fullmatch(rel.parts[0]) else None


def last_seen(folder: Path) -> float:
    """When the session last used its folder (epoch seconds): the mark's mtime, else the folder's."""
    mark = folder / MARK
    return (mark if mark.exists() else folder).stat(follow_symlinks=False).st_mtime


KeepAlive = Callable[[Path], bool]  # a session's folder -> True while something in it must not be swept
_KEEP_ALIVE: list[KeepAlive] = []
_KEEP_ALIVE_LOCK = threading.Lock()


def register_keep_alive(check: KeepAlive) -> None:
    """Ask ``check(folder)`` before sweeping a session's folder; a folder any check claims is kept. Registering
    the same check again does nothing (the app registers on every sweep)."""
    with _KEEP_ALIVE_LOCK:
        if check not in _KEEP_ALIVE:
            _KEEP_ALIVE.append(check)


def keeps_alive(folder: Path) -> bool:
    """True when a registered check claims ``folder``. A check that fails keeps the folder (logged): when in
    doubt, a student's live work outweighs a day's disk space."""
    with _KEEP_ALIVE_LOCK:
        checks = list(_KEEP_ALIVE)
    for check in checks:
        try:
            if check(folder):
                return True
        except Exception as e:  # noqa: BLE001 - an unreadable run must not get its folder swept
            log.warning(
                "keep-alive check %s failed on %s, keeping it: %s: %s",
                getattr(check, "__qualname__", check),
                folder,
                type(e).__name__,
                e,
            )
            return True
    return False


def sweep(max_age_s: float, now: float | None = None) -> list[Path]:
    """Remove session folders idle longer than ``max_age_s`` seconds; returns the folders removed.

    Kept: a folder seen more recently, one a registered keep-alive check claims (``register_keep_alive``: the
    app registers the fine-tune runner's live-run check), and anything that is not a real folder named like a
    session id (a symbolic link is left alone, never followed)."""
    now = time.time() if now is None else now
    top = root()
    if not top.is_dir():
        return []
    removed = []
    with os.scandir(top) as entries:
        for entry in entries:
            if entry.is_symlink() or not entry.is_dir(follow_symlinks=False) or not SESSION_ID.fullmatch(entry.name):
                continue
            folder = top / entry.name
            try:
                if now - last_seen(folder) <= max_age_s or keeps_alive(folder):
                    continue
                shutil.rmtree(folder)  # unlinks links inside, never what they point to
            except FileNotFoundError:  # another process swept it first
                continue
            except OSError as e:  # one stubborn folder must not stop the sweep of the others
                log.warning("could not sweep %s: %s", folder, e)
                continue
            removed.append(folder)
    return removed


def usage_bytes(folder: Path) -> int:
    """Bytes of every file below ``folder`` (links counted as links, never followed; vanished files skipped)."""
    total = 0
    todo = [folder]
    while todo:
        try:
            with os.scandir(todo.pop()) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            todo.append(Path(entry.path))
                        else:
                            total += entry.stat(follow_symlinks=False).st_size
                    except FileNotFoundError:
                        continue
        except (FileNotFoundError, NotADirectoryError):
            continue
    return total


def quota_bytes() -> int:
    """The most one session may keep in its folder (``LAB_SESSION_QUOTA_MB``)."""
    return get_settings().session_quota_mb * 2**20


def check_room(path: str | Path, adding: int, used: int | None = None, replacing: int = 0, what: str = "This") -> None:
    """InputError when writing ``adding`` more bytes at ``path`` would take its session over the quota.

    ``used``: the session's usage if already measured (else measured now); ``replacing``: bytes of a file the
    write replaces; ``what``: how the message names the write. A path outside every session (shared content,
    the CLI) is never limited."""
    owner = owner_of(path)
    if owner is None:
        return
    used = usage_bytes(owner) if used is None else used
    quota = quota_bytes()
    if used - replacing + adding > quota:
        raise InputError(
            f"{what} would take your session over its quota of {quota / 2**20:,.0f} MB "
            f"(LAB_SESSION_QUOTA_MB): the session already uses {used / 2**20:,.1f} MB. Nothing was "
            f"saved; ask the deployer for a larger quota if you need one."
        )


def sweep_expired(now: float | None = None) -> list[Path]:
    """``sweep`` with the deployment's TTL (``LAB_SESSION_TTL_HOURS``)."""
    return sweep(get_settings().session_ttl_hours * 3600, now=now)
