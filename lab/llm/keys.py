"""API keys: explicit → environment → an error that names the variable to set (as simonw/llm's get_key).

Keys are never logged, printed, cached to disk, or sent anywhere but their own provider. The UI layer maps
Streamlit secrets into the environment and passes a key a student pasted explicitly; ``lab`` never reads
``st.secrets``.

    >>> import os; os.environ.pop("OPENAI_API_KEY", None) and None
    >>> resolve_key("openai", explicit="sk-test")
    'sk-test'
    >>> resolve_key("openai")
    Traceback (most recent call last):
    ...
    lab.llm.base.MissingKeyError: The openai provider needs an API key: set OPENAI_API_KEY in the environment (or .streamlit/secrets.toml), or paste one in the sidebar.
"""

from __future__ import annotations

import os

from lab.llm.base import MissingKeyError

ENV_VARS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "openai-compatible": "OPENAI_COMPATIBLE_API_KEY",
    "hf": "HF_TOKEN",
    "modal": "MODAL_TOKEN_ID",
}


def resolve_key(provider: str, explicit: str | None = None, required: bool = True) -> str | None:
    if explicit:
        return explicit
    var = ENV_VARS.get(provider)
    value = os.environ.get(var) if var else None
    if value:
        return value
    if required:
        raise MissingKeyError(
            f"The {provider} provider needs an API key: set {var} in the environment "
            "(or .streamlit/secrets.toml), or paste one in the sidebar."
        )
    return None


def key_present(provider: str) -> bool:
    """Whether a key is configured for ``provider`` (without revealing it)."""
    var = ENV_VARS.get(provider)
    return bool(var and os.environ.get(var))


def redact(text: str) -> str:
    """Remove any configured key from ``text`` (error messages from SDKs sometimes echo a key)."""
    for var in ENV_VARS.values():
        value = os.environ.get(var)
        if value and len(value) > 6:
            text = text.replace(value, "***")
    return text
