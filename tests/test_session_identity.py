"""A per-browser identity: a reload with the same signed cookie gets the same session folder, another browser gets
another one, a forged or tampered cookie is refused, and the folder id cannot be turned back into a cookie."""

from __future__ import annotations

import re
import types

import pytest

from lab.classroom import sessions
from lab.classroom.identity import COOKIE, Identity, cookie_script, identity, secret_bytes


def test_same_cookie_same_folder_other_browser_other_folder():
    ident = Identity(b"k" * 32)
    c = ident.new_cookie()
    sid = ident.session_id_for(c)
    assert sid == ident.session_id_for(c) and sessions.SESSION_ID.fullmatch(sid)
    assert ident.session_id_for(ident.new_cookie()) != sid
    token, sig = c.split(".")
    assert len(token) >= 40  # 256 random bits
    assert ident.session_id_for(f"{token}.{'0' * len(sig)}") is None  # tampered signature
    assert ident.session_id_for(f"{token}x.{sig}") is None  # tampered token
    assert ident.session_id_for(sid) is None  # the folder id is not a cookie
    assert ident.session_id_for(None) is None and ident.session_id_for("a.b.c") is None
    assert Identity(b"other-secret-000").session_id_for(c) is None  # another server's cookie
    with pytest.raises(ValueError):
        Identity(b"short")


def test_the_secret_is_random_kept_private_and_stable(tmp_settings, monkeypatch):
    s1 = secret_bytes()
    path = tmp_settings.data_dir / ".session-secret"
    assert len(s1) == 32 and oct(path.stat().st_mode & 0o777) == "0o600"
    assert secret_bytes() == s1  # survives a restart of the app
    monkeypatch.setenv("LAB_SESSION_SECRET", "a deployment secret, long enough")
    from lab.core.settings import get_settings

    get_settings.cache_clear()
    assert secret_bytes() == b"a deployment secret, long enough"


def test_cookie_script_sets_only_our_cookie():
    c = Identity(b"k" * 32).new_cookie()
    js = cookie_script(c, 3600)
    assert f"{COOKIE}={c}; Path=/; Max-Age=3600; SameSite=Lax" in js and js.startswith("<script>")
    with pytest.raises(ValueError):
        cookie_script("x'; alert(1); '", 10)


class _Browser:
    """What ui.session sees of one browser tab: its session state and the cookies its connection carried."""

    def __init__(self, cookies: dict | None = None) -> None:
        self.state: dict = {}
        self.context = types.SimpleNamespace(cookies=dict(cookies or {}))
        self.html: list[str] = []


def _use(monkeypatch, secrets_mod, tab: _Browser) -> None:
    monkeypatch.setattr(secrets_mod.st, "session_state", tab.state)
    monkeypatch.setattr(secrets_mod.st, "context", tab.context)
    monkeypatch.setattr(secrets_mod.st, "html", lambda body, **kw: tab.html.append(body))


def test_a_reload_finds_the_same_folder_and_another_browser_does_not(tmp_settings, monkeypatch):
    from ui import session as S

    first = _Browser()
    _use(monkeypatch, S, first)
    sid = S.session_id()
    assert first.html, "a new browser is issued an identity cookie"
    cookie = re.search(rf"{COOKIE}=([A-Za-z0-9_.-]+);", first.html[0]).group(1)
    S.session_dir("uploads").joinpath("model.gguf").write_bytes(b"GGUF")  # the student uploads something
    assert sid not in first.html[0]  # the page never carries the folder id

    reload_ = _Browser({COOKIE: cookie})  # same browser, new Streamlit session
    _use(monkeypatch, S, reload_)
    assert S.keep_seen() is True and S.session_id() == sid and reload_.html == []
    assert (S.session_path("uploads") / "model.gguf").is_file()  # the upload is still there

    other = _Browser()  # a second browser
    _use(monkeypatch, S, other)
    assert S.session_id() != sid and not S.session_path("uploads").exists()

    forged = _Browser({COOKIE: cookie.split(".")[0] + ".deadbeef"})  # a made-up cookie: a new identity
    _use(monkeypatch, S, forged)
    assert S.session_id() not in (sid, None) and forged.html
    assert identity().session_id_for(cookie) == sid


def test_pasted_keys_stay_with_the_browser_session(tmp_settings, monkeypatch):
    from ui import session as S

    tab = _Browser()
    _use(monkeypatch, S, tab)
    S.session_id()
    tab.state["_pasted_key_openai"] = "sk-pasted"
    cookie = re.search(rf"{COOKIE}=([A-Za-z0-9_.-]+);", tab.html[0]).group(1)
    again = _Browser({COOKIE: cookie})
    _use(monkeypatch, S, again)
    S.session_id()
    assert S.pasted_key("openai") is None  # a reload does not bring a key back
    assert not any("sk-pasted" in p.read_text(errors="ignore") for p in tmp_settings.data_dir.rglob("*") if p.is_file())


# ---------------------------------------------------------------------------------------------- a real browser
@pytest.mark.browser
def test_a_reload_keeps_the_upload_and_a_second_browser_does_not_see_it(app_url, browser, tmp_path):
    """The issue's browser test: upload a GGUF, reload, the upload is still listed; a second browser does not see it."""
    from lab.gguf.sdist import installed_version, tools_dir

    src = tools_dir(installed_version()) / "models" / "ggml-vocab-gpt-neox.gguf"  # a small real GGUF
    if not src.is_file():
        pytest.skip("llama.cpp's vocab GGUFs are not extracted: `python -m lab gguf tools`")
    upload = tmp_path / "reload-keeps-me.gguf"
    upload.write_bytes(src.read_bytes())

    def listed(page, tries: int) -> bool:
        page.get_by_text("GGUF model").first.wait_for(timeout=120_000)
        box = page.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Model").first
        for _ in range(tries):  # a busy machine may still be rendering the list
            box.click()
            try:
                page.get_by_role("option", name=re.compile("reload-keeps-me")).first.wait_for(timeout=5_000)
                return True
            except Exception:  # noqa: BLE001 - playwright's timeout: not in the list (yet)
                pass
            finally:
                page.keyboard.press("Escape")
        return False

    first = browser.new_context()
    page = first.new_page()
    page.goto(app_url + "/GGUF_Runner")
    page.get_by_text("Add a model").first.click()
    page.locator('input[type="file"]').first.set_input_files(str(upload))
    page.get_by_role("button", name="Save upload").click()
    page.get_by_text("Saved reload-keeps-me.gguf").wait_for(timeout=120_000)
    assert any(c["name"] == COOKIE for c in first.cookies())
    page.reload()
    assert listed(page, 6), "after a reload, the upload is still listed"

    second = browser.new_context()
    other = second.new_page()
    other.goto(app_url + "/GGUF_Runner")
    assert not listed(other, 1), "a second browser does not see it"
    other.locator('[data-testid="stSidebar"] [data-testid="stSelectbox"]').filter(has_text="Model").first.click()
    other.get_by_role("option").first.wait_for(timeout=30_000)  # the list was there: the check meant something
    assert not any("reload-keeps-me" in o for o in other.get_by_role("option").all_inner_texts())
    first.close()
    second.close()
