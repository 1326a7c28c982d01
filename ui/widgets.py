"""Shared widgets: the sidebar provider picker, option sliders made from pydantic fields, usage and messages.

Pages call these and ``lab``; never an SDK. A widget's help text is the pydantic field's description, so
the teaching text lives once, next to the validation.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import annotated_types as at
import streamlit as st
from pydantic import BaseModel

from lab.classroom.budget import BudgetedProvider, shared_budget
from lab.finetune.openai_jobs import SESSION_FOLDER, fine_tuned_models
from lab.classroom.queue import QueuedProvider, shared_queue
from lab.core.settings import get_settings
from lab.llm import PROVIDERS, Usage, get_provider
from lab.core.errors import LabError
from lab.core.keys import ENV_VARS, is_configured_base_url, redact
from ui.session import key_source, pasted_key, session_id, session_path

DEFAULT_MODELS = {"local": "", "openai": "gpt-4o-mini", "anthropic": "claude-haiku-4-5", "ollama": "llama3.2",
                  "openai-compatible": "local-model", "fake": "scripted"}


@dataclass
class ProviderChoice:
    provider: str
    model: str | None
    base_url: str | None

    def build(self):
        """The provider for this session: a pasted key goes explicitly, never via the environment; a base URL
        typed here is guarded and never sent the deployment's key (``typed_base_url``); the local model waits its
        turn in the shared queue; a deployment key is charged to the token budget."""
        p = get_provider(self.provider, api_key=pasted_key(self.provider), base_url=self.base_url, model=self.model,
                         typed_base_url=True)
        if self.provider == "local":
            spot, queue = st.empty(), shared_queue()

            def on_wait(position: int) -> None:
                if position:
                    eta = queue.estimate_s(position)
                    spot.info(f"The local model is busy: you are number {position} in line"
                              + (f", about {eta:.0f} s." if eta is not None else "."), icon="⏳")
                else:
                    spot.empty()

            p = QueuedProvider(p, queue, on_wait)
        if key_source(self.provider, self.base_url, typed=True) == "deployment":
            p = BudgetedProvider(p, shared_budget(), session_id())
        return p

    @property
    def model_arg(self) -> str | None:
        return None if self.provider == "local" else (self.model or None)


def provider_picker(where=st.sidebar, allow_fake: bool = False) -> ProviderChoice:
    """Provider, model, optional base URL and a session-only key field. The choice persists across pages.
    For openai it names the fine-tuned model ids of this session's jobs (never a classmate's, nor the CLI's)."""
    names = [p for p in PROVIDERS if allow_fake or p != "fake"]
    box = where.container(border=True)
    box.markdown("**Model provider**")
    provider = box.selectbox("Provider", names, key="provider",
                             help="local = SmolLM2-135M on this machine (no key, no network). The others need a key or a server.")
    base_url = None
    if provider in ("openai-compatible", "ollama"):
        s = get_settings()
        default = s.ollama_host if provider == "ollama" else (s.openai_compatible_base_url or "http://127.0.0.1:8080/v1")
        base_url = box.text_input("Base URL", value=default, key=f"base_url_{provider}",
                                  help="The deployment's keys go only to addresses the deployment configured; a URL "
                                       "you type is used with a key you paste here, or none. Private and loopback "
                                       "addresses need LAB_ALLOW_PRIVATE_URLS=1.").strip() or None
    model = None
    if provider != "local":
        model = box.text_input("Model", value=DEFAULT_MODELS[provider], key=f"model_{provider}")
    if provider == "openai" and (tuned := fine_tuned_models(session_path(*SESSION_FOLDER))):   # this session's only
        box.caption("Your fine-tuned models: " + ", ".join(f"`{m}`" for m in tuned))
    if provider in ENV_VARS:
        source = key_source(provider, base_url, typed=True)
        if source == "deployment":
            box.caption(f"Key: set by the deployment ({ENV_VARS[provider]}).")
        else:
            if key_source(provider) == "deployment" and not is_configured_base_url(provider, base_url):
                box.caption(f"The deployment's {ENV_VARS[provider]} is not sent to a base URL typed here: paste "
                            "your own key for that server, or leave it empty if it needs none.")
            box.text_input(f"{ENV_VARS[provider]} (this session only)", type="password", key=f"_pasted_key_{provider}",
                           help="Kept in this browser session's memory only: never saved, logged or shown to others.")
    return ProviderChoice(provider, model, base_url)


def _bounds(field) -> dict:
    out = {}
    for m in field.metadata:
        if isinstance(m, at.Ge):
            out["min_value"] = m.ge
        elif isinstance(m, at.Gt):
            out["min_value"] = m.gt
        elif isinstance(m, at.Le):
            out["max_value"] = m.le
    return out


def model_widgets(model_cls: type[BaseModel], fields: list[str], where=st, key: str = "", **overrides) -> dict:
    """One widget per pydantic field (slider for bounded numbers, checkbox for bools), help = description."""
    values = {}
    for name in fields:
        f = model_cls.model_fields[name]
        default = overrides.get(name, f.default)
        label = name.replace("_", " ")
        wkey = f"{key}{model_cls.__name__}.{name}"
        b = _bounds(f)
        if f.annotation is bool:
            values[name] = where.checkbox(label, value=bool(default), help=f.description, key=wkey)
        elif f.annotation is float and {"min_value", "max_value"} <= b.keys():
            values[name] = where.slider(label, float(b["min_value"]), float(b["max_value"]), float(default),
                                        step=0.05, help=f.description, key=wkey)
        elif f.annotation is int and {"min_value", "max_value"} <= b.keys():
            hi = min(int(b["max_value"]), overrides.get(f"{name}_max", int(b["max_value"])))
            values[name] = where.number_input(label, int(b["min_value"]), hi, int(default), help=f.description, key=wkey)
        else:  # optional ints like seed: empty = None
            raw = where.text_input(label, value="" if default is None else str(default), help=f.description, key=wkey)
            values[name] = int(raw) if raw.strip().lstrip("-").isdigit() else None
    return values


def show_usage(usage: Usage, where=st) -> None:
    cols = where.columns(5)
    cols[0].metric("Tokens in", usage.prompt_tokens)
    cols[1].metric("Tokens out", usage.completion_tokens)
    cols[2].metric("Time to first token", "-" if usage.ttft_s is None else f"{usage.ttft_s * 1000:.0f} ms")
    cols[3].metric("Speed", "-" if not usage.tokens_per_s else f"{usage.tokens_per_s:.1f} tok/s")
    cols[4].metric("Cost", "n/a" if usage.cost_usd is None else f"${usage.cost_usd:.5f}")


def show_messages(messages: list[dict], where=st, label: str = "Messages sent") -> None:
    """The exact list sent to the model - the course's favourite debugging view."""
    with where.expander(f"{label} ({len(messages)})"):
        st.json(messages, expanded=2)


@contextmanager
def explained(where=st, on_error: Callable[[LabError], None] | None = None) -> Iterator[None]:
    """Run a lab call; a ``LabError`` is shown in words (with what had streamed), never as a traceback, and
    handed to ``on_error`` when a lab needs to remember it (the RAG lab flags a broken index)."""
    try:
        yield
    except LabError as e:
        show_error(e, where)
        if on_error:
            on_error(e)


def show_error(e: Exception, where=st) -> None:
    """A LabError's message is written for people; show it plainly (every known key redacted), keep what
    streamed."""
    partial = getattr(e, "partial_text", "")
    if partial:
        where.markdown(partial)
    where.error(redact(str(e)), icon="⚠️")
