"""Providers behind one protocol: ``get_provider(name)`` then ``run()`` or iterate ``stream()``.

    >>> from lab.llm import get_provider, run
    >>> reply = run(get_provider("fake", replies=["4"]), [{"role": "user", "content": "2+2?"}])
    >>> reply.text
    '4'

Providers: ``local`` (llama.cpp, offline default), ``openai``, ``anthropic``, ``ollama``,
``openai-compatible`` (any ``/v1`` base URL), ``fake`` (scripted). ``REGISTRY`` maps each name to the factory
that builds it ("module:function"); the module, and its SDK, is imported only when that provider is asked for,
so ``import lab.llm`` stays light.

    >>> REGISTRY["anthropic"]
    'lab.llm.anthropic_provider:build'
    >>> get_provider("gemini")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: Unknown provider 'gemini'; choose one of: local, openai, anthropic, ollama, openai-compatible, fake.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from lab.core.errors import (
    AuthError,
    BudgetExceeded,
    InputError,
    LabError,
    MissingKeyError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from lab.core.keys import ENV_VARS, key_present
from lab.llm.base import DEFAULT_SYSTEM, Chunk, Message, Options, Provider, Response, ToolCall, Usage, run

# The provider registry: name -> "module:factory". A module is imported only when its provider is asked for (the
# SDKs take seconds to import), and every factory takes the same keywords - api_key, base_url, model, replies,
# typed_base_url - using those it needs. A new backend is one module with a stream() and one line here.
REGISTRY: dict[str, str] = {
    "local": "lab.llm.local:build",
    "openai": "lab.llm.openai_provider:build",
    "anthropic": "lab.llm.anthropic_provider:build",
    "ollama": "lab.llm.ollama_provider:build",
    "openai-compatible": "lab.llm.openai_provider:build_compatible",
    "fake": "lab.llm.fake:build",
}
PROVIDERS = tuple(REGISTRY)


def get_provider(
    name: str = "local",
    *,
    api_key: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    replies: list | None = None,
    typed_base_url: bool = False,
) -> Provider:
    """Build a provider by name. Raises ``MissingKeyError`` (naming the variable) when a key is needed, and
    ``InputError`` (listing the registry's names) for a name it does not know.

    ``typed_base_url=True`` says a page's visitor typed ``base_url`` (the UI sets it; the CLI, the operator's own
    tool, does not): it is then refused when it points at a private address (``lab.core.netguard``), and it is
    sent only the explicit ``api_key``, never a key from the deployment's environment (``lab.core.keys``)."""
    target = REGISTRY.get(name) if isinstance(name, str) else None
    if target is None:
        raise InputError(f"Unknown provider {name!r}; choose one of: {', '.join(REGISTRY)}.")
    module, _, factory = target.partition(":")
    build = getattr(importlib.import_module(module), factory)
    return build(api_key=api_key, base_url=base_url, model=model, replies=replies, typed_base_url=typed_base_url)


@dataclass
class ProviderStatus:
    name: str
    ready: bool
    detail: str


def provider_status() -> list[ProviderStatus]:
    """What the Home page shows: which providers can answer now (keys present or not - never the key)."""
    from lab.core import assets
    from lab.core.settings import get_settings

    s = get_settings()
    gguf = assets.smollm2_gguf()
    detail = assets.fix_for("smollm2-gguf")
    if gguf:
        from lab.llm.local import engine_status  # which engine runs it: llama-server, in-process, or remote engines

        st_ = engine_status()
        detail = f"SmolLM2-135M: {st_['detail']}" + (
            f" (fell back in-process: {st_['fallback'][:160]})" if st_.get("fallback") else ""
        )
    out = [ProviderStatus("local", gguf is not None, detail)]
    for name in ("openai", "anthropic"):
        ok = key_present(name)
        out.append(ProviderStatus(name, ok, "key set" if ok else f"set {ENV_VARS[name]}"))
    out.append(ProviderStatus("ollama", True, f"needs a running server at {s.ollama_host}"))
    url = s.openai_compatible_base_url
    out.append(
        ProviderStatus("openai-compatible", bool(url), url or "set LAB_OPENAI_COMPATIBLE_BASE_URL or enter a URL")
    )
    return out


__all__ = [
    "PROVIDERS",
    "REGISTRY",
    "get_provider",
    "provider_status",
    "run",
    "DEFAULT_SYSTEM",
    "Options",
    "Chunk",
    "Response",
    "Usage",
    "ToolCall",
    "Message",
    "Provider",
    "LabError",
    "InputError",
    "MissingKeyError",
    "AuthError",
    "ProviderUnavailable",
    "ProviderTimeout",
    "ProviderError",
    "RateLimited",
    "BudgetExceeded",
]
