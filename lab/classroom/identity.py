"""A per-browser identity that survives a reload: a random token, HMAC-signed with a server secret, kept in a
cookie; the session folder's id is derived from it.

Streamlit starts a new session on every browser reload, so a random per-session id loses sight of the student's
uploads, runs, jobs and bookings. The browser keeps a cookie instead (``ui/session.py`` reads it through
``st.context.cookies`` and sets it once with a tiny script): its value is ``<token>.<signature>`` where the token
is 32 random bytes and the signature ``HMAC-SHA256(secret, token)``. The folder id is another HMAC of the token, so

- a reload (same cookie) gets the same folder; another browser (no cookie) gets a new token, hence a new folder;
- the token is unguessable (256 random bits), and a cookie not signed by this server is refused (a new identity
  is issued), so nobody can pick or forge one;
- the folder id, which appears in paths and logs, cannot be turned back into a cookie: knowing it does not let
  anyone act as that student.

Keys a student pastes are *not* tied to this identity: they stay in the browser session's memory only.

    >>> ident = Identity(b"server-secret")
    >>> cookie = ident.new_cookie()
    >>> ident.session_id_for(cookie) == ident.session_id_for(cookie)      # a reload: same folder
    True
    >>> ident.session_id_for(ident.new_cookie()) == ident.session_id_for(cookie)   # another browser
    False
    >>> ident.session_id_for("forged.0000") is None
    True
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

COOKIE = "lab_sid"
_LOCK = threading.Lock()


class Identity:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, purpose: str, token: str) -> str:
        return hmac.new(self._secret, f"{purpose}:{token}".encode(), hashlib.sha256).hexdigest()

    def new_cookie(self) -> str:
        token = secrets.token_urlsafe(32)
        return f"{token}.{self._mac('cookie', token)}"

    def verify(self, cookie: str | None) -> str | None:
        """The token of a cookie this server signed, else None."""
        if not cookie or cookie.count(".") != 1 or len(cookie) > 200:
            return None
        token, sig = cookie.split(".")
        if not token or not hmac.compare_digest(sig, self._mac("cookie", token)):
            return None
        return token

    def session_id_for(self, cookie: str | None) -> str | None:
        """The session folder id (32 hex) of a valid cookie, else None."""
        token = self.verify(cookie)
        return None if token is None else self._mac("folder", token)[:32]


def secret_bytes() -> bytes:
    """LAB_SESSION_SECRET, else a random secret kept in ``<data_dir>/.session-secret`` (created 0600 once), so
    identities survive a restart of the app."""
    from lab.core.settings import get_settings

    s = get_settings()
    if s.session_secret:
        return s.session_secret.encode()
    path = Path(s.data_dir) / ".session-secret"
    with _LOCK:
        try:
            return bytes.fromhex(path.read_text().strip())
        except (OSError, ValueError):
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        value = secrets.token_hex(32)
        tmp = path.with_name(f".session-secret.tmp{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(value)
        try:
            os.link(tmp, path)  # first writer wins; a concurrent one reads the winner's secret
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return bytes.fromhex(path.read_text().strip())


def identity() -> Identity:
    return Identity(secret_bytes())


def cookie_script(cookie: str, max_age_s: int) -> str:
    """The script that stores the cookie in the browser (the value is URL-safe base64 and hex: no quoting)."""
    if not all(c.isalnum() or c in "-_." for c in cookie):
        raise ValueError("unexpected characters in the identity cookie")
    return (
        "<script>(function(){var s=location.protocol==='https:'?'; Secure':'';"
        f"document.cookie='{COOKIE}={cookie}; Path=/; Max-Age={int(max_age_s)}; SameSite=Lax'+s;}})();</script>"
    )
