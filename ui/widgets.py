"""Shared widgets: the sidebar provider picker, widgets made from pydantic fields, usage and messages.

Pages call these and ``lab``; never an SDK. ``field_widget`` / ``model_widgets`` are the one builder from pydantic
fields to widgets (every page's options and the Fine-tune form): a widget's help text is the field's description
and its limits the field's bounds, so the teaching text and the validation live once, in ``lab``.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Literal, get_args, get_origin

import annotated_types as at
import streamlit as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from lab.classroom.budget import BudgetedProvider, shared_budget
from lab.classroom.queue import QueuedProvider, shared_queue
from lab.core.errors import LabError
from lab.core.keys import ENV_VARS, is_configured_base_url, redact
from lab.core.settings import get_settings
from lab.finetune.openai_jobs import SESSION_FOLDER, fine_tuned_models
from lab.llm import PROVIDERS, Usage, get_provider
from ui.session import key_source, pasted_key, session_id, session_path

DEFAULT_MODELS = {
    "local": "",
    "openai": "gpt-4o-mini",
    "anthropic": "claude-haiku-4-5",
    "ollama": "llama3.2",
    "openai-compatible": "local-model",
    "fake": "scripted",
}


@dataclass
class ProviderChoice:
    provider: str
    model: str | None
    base_url: str | None

    def build(self):
        """The provider for this session: a pasted key goes explicitly, never via the environment; a base URL
        typed here is guarded and never sent the deployment's key (``typed_base_url``); the local model waits its
        turn in the shared queue; a deployment key is charged to the token budget."""
        p = get_provider(
            self.provider,
            api_key=pasted_key(self.provider),
            base_url=self.base_url,
            model=self.model,
            typed_base_url=True,
        )
        if self.provider == "local":
            spot, queue = st.empty(), shared_queue()

            def on_wait(position: int) -> None:
                if position:
                    eta = queue.estimate_s(position)
                    spot.info(
                        f"The local model is busy: you are number {position} in line"
                        + (f", about {eta:.0f} s." if eta is not None else "."),
                        icon="⏳",
                    )
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
    provider = box.selectbox(
        "Provider",
        names,
        key="provider",
        help="local = SmolLM2-135M on this machine (no key, no network). The others need a key or a server.",
    )
    base_url = None
    if provider in ("openai-compatible", "ollama"):
        s = get_settings()
        default = (
            s.ollama_host if provider == "ollama" else (s.openai_compatible_base_url or "http://127.0.0.1:8080/v1")
        )
        base_url = (
            box.text_input(
                "Base URL",
                value=default,
                key=f"base_url_{provider}",
                help="The deployment's keys go only to addresses the deployment configured; a URL "
                "you type is used with a key you paste here, or none. Private and loopback "
                "addresses need LAB_ALLOW_PRIVATE_URLS=1.",
            ).strip()
            or None
        )
    model = None
    if provider != "local":
        model = box.text_input("Model", value=DEFAULT_MODELS[provider], key=f"model_{provider}")
    if provider == "openai" and (tuned := fine_tuned_models(session_path(*SESSION_FOLDER))):  # this session's only
        box.caption("Your fine-tuned models: " + ", ".join(f"`{m}`" for m in tuned))
    if provider in ENV_VARS:
        source = key_source(provider, base_url, typed=True)
        if source == "deployment":
            box.caption(f"Key: set by the deployment ({ENV_VARS[provider]}).")
        else:
            if key_source(provider) == "deployment" and not is_configured_base_url(provider, base_url):
                box.caption(
                    f"The deployment's {ENV_VARS[provider]} is not sent to a base URL typed here: paste "
                    "your own key for that server, or leave it empty if it needs none."
                )
            box.text_input(
                f"{ENV_VARS[provider]} (this session only)",
                type="password",
                key=f"_pasted_key_{provider}",
                help="Kept in this browser session's memory only: never saved, logged or shown to others.",
            )
    return ProviderChoice(provider, model, base_url)


def field_limits(field: FieldInfo) -> dict:
    """A pydantic field's bounds as widget limits: ``Field(1, ge=1, le=50, multiple_of=2)`` ->
    ``{"min_value": 1, "max_value": 50, "step": 2}`` (``gt`` counts as the minimum: the model still refuses it)."""
    out = {}
    for m in field.metadata:
        if isinstance(m, (at.Ge, at.Gt)):
            out["min_value"] = getattr(m, "ge", getattr(m, "gt", None))
        elif isinstance(m, at.Le):
            out["max_value"] = m.le
        elif isinstance(m, at.MultipleOf):
            out["step"] = m.multiple_of
    return out


def field_widget(
    model_cls: type[BaseModel],
    name: str,
    value,
    *,
    where=st,
    key: str,
    max_value: int | float | None = None,
    float_slider: bool = True,
):
    """One widget for one pydantic field, its help the field's description and its limits the field's bounds.

    A ``Literal`` -> selectbox; bool -> checkbox; a float bounded on both sides -> slider (``float_slider``, else
    a number input); an int -> number input (``max_value`` lowers the field's maximum); an optional int such as a
    seed -> text input, empty = None; anything else -> text input. ``value`` is the widget's first value.

        >>> field_widget(Options, "temperature", 0.7, key="prompting.Options.temperature")   # a slider 0.0 - 2.0
        0.7
    """
    f = model_cls.model_fields[name]
    label, help_ = name.replace("_", " "), f.description
    kind = f.annotation
    if get_origin(kind) is Literal:
        options = list(get_args(kind))
        return where.selectbox(label, options, index=options.index(value), help=help_, key=key)
    if kind is bool:
        return where.checkbox(label, value=bool(value), help=help_, key=key)
    if kind in (int, float):
        limits = {k: kind(v) for k, v in field_limits(f).items()}
        if max_value is not None:
            limits["max_value"] = min(limits.get("max_value", kind(max_value)), kind(max_value))
        if kind is float and float_slider and {"min_value", "max_value"} <= limits.keys():
            return where.slider(
                label, limits["min_value"], limits["max_value"], float(value), step=0.05, help=help_, key=key
            )
        limits.setdefault("step", 1 if kind is int else 0.01)
        return where.number_input(label, value=kind(value), help=help_, key=key, **limits)
    if set(get_args(kind)) == {int, type(None)}:  # optional ints like seed: empty = None
        raw = where.text_input(label, value="" if value is None else str(value), help=help_, key=key)
        return int(raw) if raw.strip().lstrip("-").isdigit() else None
    return where.text_input(label, value=str(value), help=help_, key=key)


def model_widgets(model_cls: type[BaseModel], fields: list[str], where=st, key: str = "", **overrides) -> dict:
    """One widget per pydantic field (``field_widget``), keyed ``<key><Model>.<field>``; ``overrides`` give
    defaults (``temperature=0.0``) and lower maxima (``max_tokens_max=2048``)."""
    fields_of = model_cls.model_fields
    return {
        name: field_widget(
            model_cls,
            name,
            overrides.get(name, fields_of[name].default),
            where=where,
            key=f"{key}{model_cls.__name__}.{name}",
            max_value=overrides.get(f"{name}_max"),
        )
        for name in fields
    }


def show_usage(usage: Usage, where=st) -> None:
    cols = where.columns(5)
    cols[0].metric("Tokens in", usage.prompt_tokens)
    cols[1].metric("Tokens out", usage.completion_tokens)
    cols[2].metric("Time to first token", "-" if usage.ttft_s is None else f"{usage.ttft_s * 1000:.0f} ms")
    cols[3].metric("Speed", "-" if not usage.tokens_per_s else f"{usage.tokens_per_s:.1f} tok/s")
    cols[4].metric("Cost", "n/a" if usage.cost_usd is None else f"${usage.cost_usd:.5f}")
    if usage.waited_s:  # before the first token: the wait for a free slot of the shared local model
        where.caption(f"Waited in line: {usage.waited_s:.1f} s before the local model took this request.")


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


class Streamer:
    """``on_text`` for ``lab.llm.run``: each piece is appended and the placeholder redrawn (a cursor while live),
    at most every ``every_s`` seconds: each redraw sends the whole text so far to the browser, so redrawing per
    token costs the server O(tokens²) bytes and one websocket message per token - with 30 students streaming at
    once that is CPU the model needs. Ten redraws a second still reads as live text."""

    def __init__(self, where=st, every_s: float = 0.1) -> None:
        self.box = where.empty()
        self.text = ""
        self.every_s = every_s
        self._last = 0.0

    def __call__(self, piece: str) -> None:
        self.text += piece
        now = time.monotonic()
        if now - self._last >= self.every_s:
            self._last = now
            self.box.markdown(self.text + " ▌")

    def done(self, final: str | None = None) -> None:
        self.box.markdown(final if final is not None else self.text)
