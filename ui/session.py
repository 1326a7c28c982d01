"""One browser session's place in the app: its identity and folder, the deployment's secrets, its pasted keys.

- **Session identity** - ``session_id()`` names the session's own folder (``lab.classroom.sessions``), per
  browser: a signed identity cookie (``lab.classroom.identity``) brings a reloaded page back to the same folder.
  ``session_dir()`` / ``session_path()`` give that folder. ``keep_seen()`` (run by Home.py on every page, and by
  ``session_id()``) refreshes the session's "last seen" mark at most every 5 minutes, so a session that only
  chats is not swept while a student still has it open; ``sweep_now_and_then()`` removes the folders of
  sessions idle past ``LAB_SESSION_TTL_HOURS`` when a new session starts (at most every 10 minutes), never
  one whose fine-tune run is training (it registers the runner's check with the sweep first).
- **Secrets → environment** - ``apply_secrets()`` is the one place that maps ``.streamlit/secrets.toml`` into
  ``os.environ`` (deployment keys); ``lab`` reads keys only from the environment or an explicit argument.
- **Pasted keys** - a key a student pastes stays in ``st.session_state`` only (``pasted_key``, ``key_source``),
  never in the environment, where every other session would see it.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid

import streamlit as st

from lab.core.keys import ENV_VARS, OTHER_SECRET_VARS, is_configured_base_url, register_secret

_LAB_VARS = ("LAB_OPENAI_COMPATIBLE_BASE_URL", "LAB_OLLAMA_HOST")
SEEN_EVERY_S = 300.0  # refresh an open session's "last seen" mark at most this often (TTL is hours)
SWEEP_EVERY_S = 600.0  # a sweep scans every session folder: once per 10 minutes per process is plenty
_SWEEP = {"last": float("-inf")}
_SWEEP_LOCK = threading.Lock()
log = logging.getLogger(__name__)


def apply_secrets() -> None:
    """Copy known keys from st.secrets into the environment (an existing environment value wins)."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets.toml: nothing to map
        return
    for var in (*ENV_VARS.values(), *OTHER_SECRET_VARS, *_LAB_VARS):
        if var in secrets and not os.environ.get(var):
            os.environ[var] = str(secrets[var])
    for var in (*ENV_VARS.values(), *OTHER_SECRET_VARS):  # known from now on: redacted from every message and log
        register_secret(os.environ.get(var))


def pasted_key(provider: str) -> str | None:
    """The key this session pasted for ``provider`` (surrounding whitespace stripped), or None. It is registered
    for redaction (process memory only: redaction removes it from text, it never shows it anywhere)."""
    value = (st.session_state.get(f"_pasted_key_{provider}") or "").strip()
    register_secret(value)
    return value or None


def key_source(provider: str, base_url: str | None = None, typed: bool = False) -> str:
    """'session' (pasted by this student), 'deployment' (environment/secrets) or 'none'. With a ``typed`` base
    URL the deployment did not configure, the deployment's key is not sent (lab.core.keys), so it is 'none'."""
    if pasted_key(provider):
        return "session"
    var = ENV_VARS.get(provider)
    if not (var and (os.environ.get(var) or "").strip()):
        return "none"
    return "deployment" if not typed or is_configured_base_url(provider, base_url) else "none"


def session_id() -> str:
    """This browser's id (budgets and per-session folders are keyed by it). It comes from the browser's signed
    identity cookie (``lab.classroom.identity``), so a reload finds the same folder; a browser without one is
    issued a new one here. Never shown on a page: the cookie holds a token the id is derived from, not the id."""
    if "_session_id" not in st.session_state:
        st.session_state["_session_id"] = _id_from_cookie() or _issue_identity()
        sweep_now_and_then()
    keep_seen()
    return st.session_state["_session_id"]


def _id_from_cookie() -> str | None:
    """The folder id of this browser's identity cookie when this server signed it; else None."""
    try:
        from lab.classroom.identity import COOKIE, identity

        cookie = st.context.cookies.get(COOKIE)
        return identity().session_id_for(cookie) if cookie else None
    except Exception as e:  # noqa: BLE001 - no cookie support (tests, bare sessions): a per-session id
        log.debug("no identity cookie: %s: %s", type(e).__name__, e)
        return None


def _issue_identity() -> str:
    """A new signed identity for this browser: the cookie is stored by a small script (``st.html``), so the
    next connection (a reload) carries it. Falls back to a random per-session id when that cannot be done."""
    try:
        from lab.classroom.identity import identity

        ident = identity()
        cookie = ident.new_cookie()
        st.session_state["_identity_cookie"] = cookie
        _store_cookie()
        return ident.session_id_for(cookie)
    except Exception as e:  # noqa: BLE001 - identity must never break a student's page
        log.warning("could not issue an identity cookie: %s: %s", type(e).__name__, e)
        return uuid.uuid4().hex


def _store_cookie() -> None:
    """Render the cookie script (invisible) for an identity issued in this browser session."""
    cookie = st.session_state.get("_identity_cookie")
    if not cookie:
        return
    from lab.classroom.identity import cookie_script
    from lab.core.settings import get_settings

    try:
        st.html(cookie_script(cookie, int(get_settings().session_ttl_hours * 3600)), unsafe_allow_javascript=True)
    except Exception as e:  # noqa: BLE001 - outside a script run (a thread): the next top-level run stores it
        log.debug("identity cookie not rendered: %s: %s", type(e).__name__, e)
        return
    st.session_state["_identity_stored"] = st.session_state.get("_identity_stored", 0) + 1


def keep_seen(now: float | None = None) -> bool:
    """Refresh this session's "last seen" mark when its folder exists (never creating one), at most every
    ``SEEN_EVERY_S`` seconds; a session without an id yet has no folder. Never raises into the page.
    Returns whether it tried."""
    sid = st.session_state.get("_session_id")
    if not sid:
        sid = _id_from_cookie()  # a reload: this browser's identity cookie names its folder
        if not sid:
            return False
        st.session_state["_session_id"] = sid
    elif st.session_state.get("_identity_cookie") and st.session_state.get("_identity_stored", 0) < 2:
        _store_cookie()  # once more, at the top of the next run (Home.py), in case the first was lost
    now = time.monotonic() if now is None else now
    if now - st.session_state.get("_seen_at", float("-inf")) < SEEN_EVERY_S:
        return False
    st.session_state["_seen_at"] = now
    try:
        from lab.classroom import sessions

        sessions.mark_seen(sid)
    except Exception as e:  # noqa: BLE001 - housekeeping must never break a student's page
        log.warning("could not mark session seen: %s: %s", type(e).__name__, e)
    return True


def session_dir(*parts: str):
    """This session's own folder (``<data_dir>/sessions/<id>/<parts...>``), created."""
    from lab.classroom import sessions

    return sessions.session_dir(session_id(), *parts)


def session_path(*parts: str):
    """This session's folder (or a path below it) for reading: neither created nor marked seen."""
    from lab.classroom import sessions

    return sessions.session_path(session_id(), *parts)


def sweep_now_and_then(now: float | None = None) -> bool:
    """Sweep expired session folders unless this process did so in the last ``SWEEP_EVERY_S`` seconds.
    Never raises into the page: a failure is logged as a warning. Returns whether a sweep ran."""
    now = time.monotonic() if now is None else now
    if not _SWEEP_LOCK.acquire(blocking=False):  # another session of this process is sweeping right now
        return False
    try:
        if now - _SWEEP["last"] < SWEEP_EVERY_S:
            return False
        _SWEEP["last"] = now
        from lab.classroom import sessions
        from lab.finetune.runner import trains_in

        sessions.register_keep_alive(trains_in)  # a session whose run is training is never swept
        removed = sessions.sweep_expired()
        if removed:
            log.info("swept %d expired session folder(s)", len(removed))
        return True
    except Exception as e:  # noqa: BLE001 - housekeeping must never break a student's page
        log.warning("session sweep failed: %s: %s", type(e).__name__, e)
        return True
    finally:
        _SWEEP_LOCK.release()
