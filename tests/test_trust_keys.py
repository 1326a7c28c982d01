"""Trust on a shared deployment: keys stay with their owner, typed addresses are guarded, errors echo no key.

The "Done when" of issue 18: a loopback server that records request headers (tests/wireserver.py) stands for a
student's listening socket. The Prompting page and the Fine-tune → OpenAI tab run headless (AppTest) with
deployment keys in the environment and the server's URL typed in the page:
- with ``LAB_ALLOW_PRIVATE_URLS=1`` a request really arrives, and it never carries the deployment's key (a key the
  student pasted does arrive: it is theirs);
- without that setting the typed loopback URL is refused before any request (the server records nothing) and the
  page says why and how an operator allows it.
Then the guard itself (every spelling of a private address), malformed URLs, key cleaning and redaction.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from lab.core.errors import InputError, MissingKeyError
from lab.core.keys import clean_key, redact, register_secret, resolve_key
from lab.core.netguard import URLRefused, check_base_url, check_url
from lab.llm import get_provider, run
from lab.prompting.web import scrape

ROOT = Path(__file__).resolve().parent.parent
PROMPTING = str(ROOT / "app_pages" / "1_Prompting.py")
DEPLOY_OPENAI = "sk-deployment-openai-0123456789"
DEPLOY_COMPAT = "sk-deployment-compat-0123456789"
PASTED = "sk-pasted-by-student-0123456789"
Q = [{"role": "user", "content": "What is the capital of France?"}]


@pytest.fixture
def private(monkeypatch):
    """``private(True)`` sets LAB_ALLOW_PRIVATE_URLS=1 (the wire server is on loopback), ``private(False)`` off."""
    from lab.core.settings import get_settings

    def set_(on: bool) -> None:
        monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1" if on else "0")
        get_settings.cache_clear()

    yield set_
    get_settings.cache_clear()


@pytest.fixture
def deployment_keys(monkeypatch, no_keys):
    """The instructor's keys, as a Space or a classroom server sets them."""
    from lab.core.settings import get_settings

    monkeypatch.setenv("OPENAI_API_KEY", DEPLOY_OPENAI)
    monkeypatch.setenv("OPENAI_COMPATIBLE_API_KEY", DEPLOY_COMPAT)
    for var in ("OPENAI_BASE_URL", "LAB_OPENAI_COMPATIBLE_BASE_URL", "LAB_OLLAMA_HOST"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def headers_seen(wire) -> str:
    """Every header value the server received, joined: what a listening student would have collected."""
    return "\n".join(f"{k}: {v}" for r in wire.requests for k, v in r.headers.items())


# ---------------------------------------------------------------------------------------------- Prompting page
def prompting_on(wire, url: str | None = None, provider: str = "openai-compatible") -> AppTest:
    at = AppTest.from_file(PROMPTING, default_timeout=120).run()
    assert not at.exception
    at.selectbox(key="provider").set_value(provider).run()
    at.text_input(key=f"base_url_{provider}").set_value(url or wire.url + "/v1")
    if provider != "local":
        at.text_input(key=f"model_{provider}").set_value("gpt-4o-mini")
    at.number_input(key="prompting.Options.max_tokens").set_value(16)
    return at.run()


def test_prompting_page_never_sends_the_deployment_key_to_a_typed_base_url(wire, deployment_keys, private):
    private(True)  # loopback allowed: the request is really made
    at = prompting_on(wire)
    assert any("not sent to a base URL typed here" in c.value for c in at.sidebar.caption)
    wire.queue("openai_chat_stream.sse")
    at.button(key="chat.send").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert len(wire.requests) == 1 and wire.requests[0].path == "/v1/chat/completions"
    assert DEPLOY_COMPAT not in headers_seen(wire) and DEPLOY_OPENAI not in headers_seen(wire)
    assert wire.requests[0].headers["authorization"] == "Bearer not-needed"

    # a key the student pasted is theirs: it goes to the server they typed
    at.text_input(key="_pasted_key_openai-compatible").set_value(PASTED + "\n").run()  # with its newline
    wire.queue("openai_chat_stream.sse")
    at.button(key="chat.send").click().run()
    assert not at.exception and not at.error
    assert wire.requests[1].headers["authorization"] == f"Bearer {PASTED}"
    assert DEPLOY_COMPAT not in headers_seen(wire)


def test_prompting_page_refuses_a_typed_loopback_url_before_any_request(wire, deployment_keys, private):
    private(False)  # a shared deployment's setting
    at = prompting_on(wire)
    at.button(key="chat.send").click().run()
    assert not at.exception
    shown = at.tabs[0].error[0].value
    assert "Refused" in shown and "loopback" in shown and "LAB_ALLOW_PRIVATE_URLS=1" in shown
    assert wire.requests == []  # refused before anything was sent


def test_prompting_page_refuses_a_typed_ollama_host_on_loopback(wire, deployment_keys, private):
    private(False)
    at = prompting_on(wire, url=wire.url, provider="ollama")
    at.button(key="chat.send").click().run()
    assert not at.exception and "loopback" in at.tabs[0].error[0].value and wire.requests == []


def test_the_deployment_configured_base_url_gets_the_deployment_key(wire, deployment_keys, private, monkeypatch):
    from lab.core.settings import get_settings

    private(False)  # the operator's own address is trusted, loopback or not
    monkeypatch.setenv("LAB_OPENAI_COMPATIBLE_BASE_URL", wire.url + "/v1")
    get_settings.cache_clear()
    at = AppTest.from_file(PROMPTING, default_timeout=120).run()
    at.selectbox(key="provider").set_value("openai-compatible").run()
    assert at.text_input(key="base_url_openai-compatible").value == wire.url + "/v1"  # pre-filled from the setting
    wire.queue("openai_chat_stream.sse")
    at.button(key="chat.send").click().run()
    assert not at.exception and not at.error
    assert wire.requests[0].headers["authorization"] == f"Bearer {DEPLOY_COMPAT}"


def test_a_pasted_key_echoed_in_an_error_body_is_redacted_on_the_page(wire, no_keys, private):
    private(True)
    at = prompting_on(wire)
    at.text_input(key="_pasted_key_openai-compatible").set_value(PASTED).run()
    echo = b'{"error": {"message": "Upstream rejected key ' + PASTED.encode() + b"\\u001b[31m" + b"x" * 3000 + b'"}}'
    wire.queue(status=500, body=echo)
    at.button(key="chat.send").click().run()
    assert not at.exception
    shown = at.tabs[0].error[0].value
    assert "HTTP 500" in shown and "***" in shown and PASTED not in shown
    assert "\x1b" not in shown and len(shown) < 400  # a short, sanitized excerpt of the body


# ---------------------------------------------------------------------------------------------- Fine-tune tab
def _tab():
    from ui.finetune_openai import render_openai_tab

    render_openai_tab()


def _widget(at, kind, key):
    return next(w for w in getattr(at, kind) if w.key == key)


def launch_from_tab(wire, pasted: str | None = None) -> AppTest:
    at = AppTest.from_function(_tab, default_timeout=180).run()
    _widget(at, "number_input", "oa.n").set_value(10)
    _widget(at, "number_input", "oa.n_val").set_value(2)
    at.button(key="oa.prepare").click().run()
    at.button(key="oa.validate").click().run()
    _widget(at, "text_input", "oa.base_url").set_value(wire.url + "/v1").run()
    if pasted:
        _widget(at, "text_input", "oa.key").set_value(pasted).run()
    _widget(at, "checkbox", "oa.agree").check().run()
    assert not _widget(at, "button", "oa.launch").disabled
    wire.queue("ft_openai_file_train.json").queue("ft_openai_file_validation.json").queue("ft_openai_job_created.json")
    wire.queue("ft_openai_job_running.json").queue("ft_openai_events.json")  # then the live view polls
    at.button(key="oa.launch").click().run()
    return at


@pytest.mark.parametrize("pasted", [None, PASTED], ids=["no-key-pasted", "key-pasted"])
@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers) for the tab's examples
def test_finetune_tab_never_sends_the_deployment_key_to_a_typed_base_url(
    wire, tmp_settings, deployment_keys, private, pasted
):
    private(True)
    at = launch_from_tab(wire, pasted)
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert at.session_state["oa.job"] == "ftjob-abc123"
    paths = [r.path for r in wire.requests]
    assert paths[:3] == ["/v1/files", "/v1/files", "/v1/fine_tuning/jobs"] and len(paths) >= 5  # and it followed
    assert DEPLOY_OPENAI not in headers_seen(wire)
    want = f"Bearer {pasted}" if pasted else "Bearer not-needed"
    assert {r.headers["authorization"] for r in wire.requests} == {want}


@pytest.mark.slow  # the pricer's offline data is tokenized with SmolLM2's tokenizer (transformers) for the tab's examples
def test_finetune_tab_refuses_a_typed_loopback_url_before_any_request(wire, tmp_settings, deployment_keys, private):
    private(False)
    at = launch_from_tab(wire)
    assert not at.exception, at.exception
    shown = " ".join(e.value for e in at.error)
    assert "Refused" in shown and "loopback" in shown and "LAB_ALLOW_PRIVATE_URLS=1" in shown
    assert wire.requests == []
    assert "oa.job" not in at.session_state


# ---------------------------------------------------------------------------------------------- scoping, lab level
def test_typed_base_url_gets_only_an_explicit_key_while_the_cli_keeps_the_environment_key(
    wire, deployment_keys, private
):
    private(True)
    url = wire.url + "/v1"
    wire.queue("openai_chat_stream.sse").queue("openai_chat_stream.sse").queue("openai_chat_stream.sse")
    run(get_provider("openai-compatible", base_url=url, typed_base_url=True), Q)  # a page, no key pasted
    run(get_provider("openai-compatible", base_url=url, typed_base_url=True, api_key=PASTED), Q)  # pasted
    run(get_provider("openai-compatible", base_url=url), Q)  # the CLI's --base-url: the operator's own tool
    auth = [r.headers["authorization"] for r in wire.requests]
    assert auth == ["Bearer not-needed", f"Bearer {PASTED}", f"Bearer {DEPLOY_COMPAT}"]
    with pytest.raises(MissingKeyError, match="never to a base URL typed in a page"):
        get_provider("openai", base_url=url, typed_base_url=True)  # openai needs a key: it must be pasted


def test_finetune_client_with_a_typed_base_url_sends_no_deployment_key(wire, deployment_keys, private):
    from lab.finetune import openai_jobs as J

    private(True)
    wire.queue("ft_openai_jobs_list.json").queue("ft_openai_jobs_list.json")
    J.list_jobs(base_url=wire.url + "/v1", typed_base_url=True)
    J.list_jobs(base_url=wire.url + "/v1")  # `lab finetune openai jobs --base-url ...`
    assert [r.headers["authorization"] for r in wire.requests] == ["Bearer not-needed", f"Bearer {DEPLOY_OPENAI}"]


def test_the_cli_may_use_loopback_base_urls_but_a_typed_one_may_not(private):
    private(False)
    assert check_base_url("http://127.0.0.1:8080/v1", provider="openai-compatible", typed=False)
    with pytest.raises(URLRefused, match="loopback"):
        check_base_url("http://127.0.0.1:8080/v1", provider="openai-compatible", typed=True)
    with pytest.raises(URLRefused, match="private"):
        check_base_url("10.0.0.7:11434", provider="ollama", typed=True)  # host:port, as Ollama hosts are written


# ---------------------------------------------------------------------------------------------- the address guard
@pytest.mark.parametrize(
    "url, why",
    [
        ("http://[::ffff:127.0.0.1]/", "loopback"),  # IPv4-mapped
        ("http://[::ffff:7f00:1]/", "loopback"),  # the same, in hex
        ("http://[64:ff9b::a00:1]/", "private"),  # NAT64 of 10.0.0.1
        ("http://[64:ff9b::7f00:1]/", "loopback"),  # NAT64 of 127.0.0.1
        ("http://[64:ff9b:1::a00:1]/", "NAT64"),  # local-use NAT64
        ("http://[2002:a00:1::1]/", "private"),  # 6to4 of 10.0.0.1
        ("http://[::127.0.0.1]/", "loopback"),  # IPv4-compatible (deprecated)
        ("http://0.0.0.0:8080/", "unspecified"),
        ("http://[::]/", "unspecified"),
        ("http://127.1/", "loopback"),  # short form, resolved by getaddrinfo
        ("http://2130706433/", "loopback"),  # decimal
        ("http://0x7f000001/", "loopback"),  # hexadecimal
        ("http://0177.0.0.1/", "loopback"),  # octal
        ("http://[::1]:11434/", "loopback"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://[::ffff:169.254.169.254]/", "metadata"),
        ("http://[64:ff9b::a9fe:a9fe]/", "metadata"),
        ("http://100.64.0.1/", "reserved/non-public"),  # carrier-grade NAT
    ],
)
def test_every_spelling_of_a_non_public_address_is_refused(url, why):
    with pytest.raises(URLRefused, match=why) as e:
        check_url(url, allow_private=False)
    msg = str(e.value)
    assert isinstance(e.value, InputError) and msg.startswith("Refused ")
    assert "metadata" in msg or "LAB_ALLOW_PRIVATE_URLS=1" in msg  # says how an operator allows it


def test_metadata_stays_refused_when_private_addresses_are_allowed():
    for url in ("http://[::ffff:169.254.169.254]/", "http://[64:ff9b::a9fe:a9fe]/", "http://metadata/"):
        with pytest.raises(URLRefused, match="metadata"):
            check_url(url, allow_private=True)
    assert check_url("http://[64:ff9b::7f00:1]/", allow_private=True) == ["64:ff9b::7f00:1"]


def test_public_addresses_and_their_nat64_form_pass():
    assert check_url("http://93.184.215.14/", allow_private=False) == ["93.184.215.14"]
    assert check_url("http://[64:ff9b::5db8:d70e]/", allow_private=False) == ["64:ff9b::5db8:d70e"]


@pytest.mark.parametrize(
    "url", ["http://[::1", "http://[zz]/", "http://[::1/x", "http://example.com:99999/", "http://example.com:port/"]
)
def test_a_malformed_url_is_an_input_error_not_a_crash(url):
    with pytest.raises(URLRefused, match="not a well-formed URL"):
        check_url(url, allow_private=False)
    with pytest.raises(InputError):
        get_provider("openai-compatible", base_url=url)  # even the CLI's own base URL is checked for form


def test_malformed_links_on_a_page_are_skipped():
    html = b"<a href='http://[::1'>a</a><a href='http://[zz]/'>b</a><a href='/ok'>ok</a><a href='http://h:99999/'>c</a>"
    assert scrape(html, "https://acme.test/").links == ["https://acme.test/ok"]


def test_a_malformed_url_picked_by_the_model_is_dropped():
    from lab.llm.fake import FakeProvider
    from lab.prompting.brochure import pick_links
    from lab.prompting.web import Page

    page = Page("https://acme.test/", "Acme", "Hi", ["https://acme.test/about"])
    fake = FakeProvider(
        ['{"links": [{"type": "x", "url": "http://[::1"}, {"type": "about page", "url": "https://acme.test/about"}]}']
    )
    picked, _ = pick_links(fake, page)
    assert picked == [{"type": "about page", "url": "https://acme.test/about"}]


# ---------------------------------------------------------------------------------------------- keys
def test_keys_are_stripped_and_inner_whitespace_is_explained(monkeypatch, no_keys):
    monkeypatch.setenv("OPENAI_API_KEY", "  sk-with-newline-123456\n")
    assert resolve_key("openai") == "sk-with-newline-123456"
    assert resolve_key("openai", explicit="\tsk-pasted-123456 \r\n") == "sk-pasted-123456"
    with pytest.raises(InputError, match="space or control character inside it"):
        resolve_key("openai", explicit="sk-pas ted-123456")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc\x1bdef-123")
    with pytest.raises(InputError, match="OPENAI_API_KEY has a space or control character"):
        resolve_key("openai")
    with pytest.raises(InputError, match="non-ASCII"):
        clean_key("sk-abc\u2013def")


def test_a_deployment_key_with_a_trailing_newline_reaches_its_server(wire, no_keys, monkeypatch):
    # before: the newline went into the Authorization header and the error said "cannot reach the server"
    from lab.core.settings import get_settings

    monkeypatch.setenv("OPENAI_API_KEY", "sk-deployment-nl-123456\n")
    monkeypatch.setenv("OPENAI_BASE_URL", wire.url + "/v1")  # the deployment's own endpoint
    get_settings.cache_clear()
    wire.queue("openai_chat_stream.sse")
    reply = run(get_provider("openai", typed_base_url=True), Q)
    assert reply.text == "The capital of France is Paris."
    assert wire.requests[0].headers["authorization"] == "Bearer sk-deployment-nl-123456"


def test_every_known_key_is_redacted_pasted_cli_and_environment(monkeypatch, no_keys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-env-0123456789")
    resolve_key("openai", explicit="sk-pasted-redact-0123456789")  # a key pasted in a sidebar
    register_secret("lab-gguf-cli-flag-0123456789")  # a key from a CLI flag
    text = "a sk-pasted-redact-0123456789 b sk-ant-env-0123456789 c lab-gguf-cli-flag-0123456789 d"
    assert redact(text) == "a *** b *** c *** d"
    assert redact("short abc stays") == "short abc stays"  # only keys, never ordinary words


def test_log_lines_are_redacted(caplog):
    register_secret("sk-logged-by-mistake-0123456789")
    with caplog.at_level(logging.WARNING):
        logging.getLogger("lab.test").warning("request failed with key %s", "sk-logged-by-mistake-0123456789")
        try:
            raise RuntimeError("boom sk-logged-by-mistake-0123456789")
        except RuntimeError:
            logging.getLogger("lab.test").exception("and a traceback")
    assert "sk-logged-by-mistake" not in caplog.text and "***" in caplog.text


def test_error_bodies_become_short_sanitized_excerpts(wire, no_keys):
    from lab.core.errors import ProviderError

    register_secret(PASTED)
    body = b'{"error": {"message": "bad gateway ' + PASTED.encode() + b"\\n\\u0007" + b"y" * 5000 + b'"}}'
    wire.queue(status=502, body=body)
    with pytest.raises(ProviderError) as e:
        run(get_provider("openai-compatible", base_url=wire.url + "/v1", api_key=PASTED), Q)
    msg = str(e.value)
    assert "HTTP 502" in msg and "bad gateway ***" in msg and PASTED not in msg
    assert "\x07" not in msg and "\n" not in msg and len(msg) < 400


def test_the_docstring_examples_hold(no_keys, monkeypatch):
    import doctest

    import lab.core.errors
    import lab.core.keys
    import lab.core.netguard
    import lab.llm.errors
    import lab.prompting.web
    from lab.core.settings import get_settings

    for var in ("OPENAI_BASE_URL", "LAB_ALLOW_PRIVATE_URLS"):
        monkeypatch.delenv(var, raising=False)
    get_settings.cache_clear()
    try:
        for mod in (lab.core.keys, lab.core.netguard, lab.core.errors, lab.prompting.web, lab.llm.errors):
            assert doctest.testmod(mod).failed == 0, mod.__name__
    finally:
        get_settings.cache_clear()
