"""API keys: explicit → environment → an error that names the variable to set (as simonw/llm's get_key), and
whose key may travel where.

Three rules live here, and only here:

1. **Scoping.** A key from the deployment (the environment; the UI maps Streamlit secrets into it) goes only to
   its provider's own endpoint, or to a base URL the deployment configured itself (``LAB_OPENAI_COMPATIBLE_BASE_URL``,
   ``LAB_OLLAMA_HOST``, ``OPENAI_BASE_URL``, ``ANTHROPIC_BASE_URL``). A base URL a visitor *typed* in a page
   (``typed_base_url=True``, set by the UI) goes out with the key that visitor pasted, or with none: otherwise one
   student with a listening socket would collect the instructor's key. The CLI is the operator's own tool and
   does not set the flag, so ``--base-url`` with an environment key stays allowed there.
2. **Clean keys.** Surrounding whitespace is stripped (a key pasted with its newline used to surface as "cannot
   reach the server"); a key with whitespace or control characters *inside* is refused with a message saying so.
3. **Redaction.** Every key the process sees (environment, secrets, pasted, a CLI flag) is registered in memory
   only (never on disk, never shown) and ``redact()`` removes each of them; once a key is known, log records are
   redacted too. Redaction only removes text: a pasted key of one session is never displayed to another.

    >>> import os; os.environ.pop("OPENAI_API_KEY", None) and None
    >>> resolve_key("openai", explicit="  sk-test-1234\\n")
    'sk-test-1234'
    >>> redact("the server echoed sk-test-1234 back")
    'the server echoed *** back'
    >>> os.environ["OPENAI_API_KEY"] = "sk-deployment-key"
    >>> resolve_key("openai", base_url="http://listener.example/v1", typed_base_url=True)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.core.errors.MissingKeyError: The deployment's OPENAI_API_KEY is sent only to ... paste your own key ...
    >>> resolve_key("openai", base_url="http://listener.example/v1")   # the CLI: the operator's own choice
    'sk-deployment-key'
    >>> del os.environ["OPENAI_API_KEY"]; resolve_key("openai")
    Traceback (most recent call last):
    ...
    lab.core.errors.MissingKeyError: The openai provider needs an API key: set OPENAI_API_KEY in the environment (or .streamlit/secrets.toml), or paste one in the sidebar.
"""

from __future__ import annotations

import logging
import os
import threading

from lab.core.errors import InputError, MissingKeyError

ENV_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
    "hf": "HF_TOKEN",
    "modal": "MODAL_TOKEN_ID",
}
# Other secrets a deployment may hold: never echoed either (WANDB for fine-tune logging, Modal's secret half).
OTHER_SECRET_VARS = ("MODAL_TOKEN_SECRET", "WANDB_API_KEY", "HUGGING_FACE_HUB_TOKEN", "LAB_GGUF_API_KEY")
DEFAULT_ENDPOINTS = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com"}
MIN_SECRET_LEN = 8  # shorter strings ("abc") would redact ordinary words; no real key is this short

_SECRETS: set[str] = set()  # every key this process has seen: memory only, used only to remove them
_LOCK = threading.Lock()


def clean_key(value: str, where: str = "the key") -> str:
    """``value`` without surrounding whitespace; ``InputError`` (naming ``where``) when whitespace, a control
    character or a non-ASCII character is *inside* it: such a key cannot be sent in an HTTP header.

    >>> clean_key(" sk-abc123\\r\\n")
    'sk-abc123'
    >>> clean_key("sk-abc 123", "OPENAI_API_KEY")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: OPENAI_API_KEY has a space or control character inside it (at position 7): copy the key again, without spaces or line breaks.
    """
    key = value.strip()
    for i, ch in enumerate(key, 1):
        if ch.isspace() or not ch.isprintable():
            raise InputError(
                f"{where} has a space or control character inside it (at position {i}): copy the key "
                "again, without spaces or line breaks."
            )
        if not ch.isascii():
            raise InputError(
                f"{where} has a non-ASCII character inside it (at position {i}; a typographic quote or "
                "dash?): copy the key again from its source."
            )
    return key


def register_secret(value: str | None) -> None:
    """Remember a secret so ``redact`` removes it from every message and log line (process memory only)."""
    if not value:
        return
    for v in {value, value.strip()}:
        if len(v) >= MIN_SECRET_LEN:
            with _LOCK:
                _SECRETS.add(v)
    install_log_redaction()


def _env_secrets() -> list[str]:
    return [v for var in (*ENV_VARS.values(), *OTHER_SECRET_VARS) if (v := os.environ.get(var))]


def redact(text: str) -> str:
    """``text`` with every key the process knows replaced by ``***`` (SDK errors sometimes echo a key)."""
    text = str(text)
    with _LOCK:
        known = set(_SECRETS)
    known.update(v for raw in _env_secrets() for v in (raw, raw.strip()) if len(v) >= MIN_SECRET_LEN)
    for value in sorted(known, key=len, reverse=True):  # longest first: a key that contains another goes whole
        if value in text:
            text = text.replace(value, "***")
    return text


def _norm(url: str | None) -> str:
    url = (url or "").strip().rstrip("/").lower()
    return url if "://" in url or not url else "http://" + url  # Ollama hosts may be written without a scheme


def configured_base_urls(provider: str) -> set[str]:
    """The base URLs this deployment chose for ``provider``: its default endpoint and any set by the operator."""
    from lab.core.settings import get_settings

    s = get_settings()
    urls = {DEFAULT_ENDPOINTS.get(provider)}
    if provider == "openai":
        urls.add(os.environ.get("OPENAI_BASE_URL"))
    elif provider == "anthropic":
        urls.add(os.environ.get("ANTHROPIC_BASE_URL"))
    elif provider == "openai-compatible":
        urls.add(s.openai_compatible_base_url)
    elif provider == "ollama":
        urls.add(s.ollama_host)
    return {_norm(u) for u in urls if u}


def is_configured_base_url(provider: str, base_url: str | None) -> bool:
    """Whether ``base_url`` is none (the provider's own endpoint) or one the deployment configured.

    >>> is_configured_base_url("openai", None), is_configured_base_url("openai", "https://api.openai.com/v1/")
    (True, True)
    >>> is_configured_base_url("openai", "http://127.0.0.1:9/v1")
    False
    """
    return not base_url or _norm(base_url) in configured_base_urls(provider)


def resolve_key(
    provider: str,
    explicit: str | None = None,
    required: bool = True,
    *,
    base_url: str | None = None,
    typed_base_url: bool = False,
) -> str | None:
    """The key to send: ``explicit`` (pasted, or a CLI flag), else the environment's - unless ``base_url`` was
    typed by a visitor and is not one the deployment configured: then only an explicit key, or none."""
    var = ENV_VARS.get(provider)
    if explicit and explicit.strip():
        register_secret(explicit)
        return clean_key(explicit, "The pasted key" if typed_base_url else "The key given")
    value = os.environ.get(var) if var else None
    if value:
        register_secret(value)
    if value and value.strip() and typed_base_url and not is_configured_base_url(provider, base_url):
        if required:
            raise MissingKeyError(
                f"The deployment's {var} is sent only to {provider}'s own endpoint or a base URL the deployment "
                f"configured, never to a base URL typed in a page ({base_url}). To use that server, paste your own "
                "key for it in this session (or leave the key empty if the server needs none), or clear the base URL."
            )
        return None
    if value and value.strip():
        return clean_key(value, var or "the key")
    if required:
        raise MissingKeyError(
            f"The {provider} provider needs an API key: set {var} in the environment "
            "(or .streamlit/secrets.toml), or paste one in the sidebar."
        )
    return None


def key_present(provider: str) -> bool:
    """Whether a key is configured for ``provider`` (without revealing it)."""
    var = ENV_VARS.get(provider)
    return bool(var and (os.environ.get(var) or "").strip())


class _RedactedRecord(logging.LogRecord):
    """A log record whose message and traceback text pass through ``redact`` before any handler sees them."""

    def getMessage(self) -> str:  # noqa: N802 - logging's name
        return redact(super().getMessage())


_INSTALLED = {"done": False}


def install_log_redaction() -> None:
    """Make every log record of this process redact known keys (its message, and its traceback, formatted
    here once so handlers reuse the redacted text). Idempotent; called when the first key is registered."""
    with _LOCK:
        if _INSTALLED["done"]:
            return
        _INSTALLED["done"] = True
    previous = logging.getLogRecordFactory()

    def factory(*args, **kwargs) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if type(record) is logging.LogRecord:
            record.__class__ = _RedactedRecord
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return record

    logging.setLogRecordFactory(factory)
