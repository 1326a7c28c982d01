"""Streamlit secrets → environment, and keys pasted for one session.

``lab`` reads keys only from the environment or from an explicit argument. This module is the one place
that maps ``.streamlit/secrets.toml`` into ``os.environ`` (deployment keys), and keeps a key a student pastes
in ``st.session_state`` only - never in the environment, where every other session would see it.
"""

from __future__ import annotations

import os
import uuid

import streamlit as st

from lab.llm.keys import ENV_VARS

_LAB_VARS = ("LAB_OPENAI_COMPATIBLE_BASE_URL", "LAB_OLLAMA_HOST")


def apply_secrets() -> None:
    """Copy known keys from st.secrets into the environment (an existing environment value wins)."""
    try:
        secrets = dict(st.secrets)
    except Exception:  # no secrets.toml: nothing to map
        return
    for var in (*ENV_VARS.values(), *_LAB_VARS):
        if var in secrets and not os.environ.get(var):
            os.environ[var] = str(secrets[var])


def pasted_key(provider: str) -> str | None:
    return st.session_state.get(f"_pasted_key_{provider}") or None


def key_source(provider: str) -> str:
    """'session' (pasted by this student), 'deployment' (environment/secrets) or 'none'."""
    if pasted_key(provider):
        return "session"
    var = ENV_VARS.get(provider)
    return "deployment" if var and os.environ.get(var) else "none"


def session_id() -> str:
    """A random id for this browser session (budgets and per-session folders are keyed by it)."""
    if "_session_id" not in st.session_state:
        st.session_state["_session_id"] = uuid.uuid4().hex
    return st.session_state["_session_id"]
