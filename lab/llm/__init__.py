"""Providers behind one protocol: ``get_provider(name)`` then ``run()`` or iterate ``stream()``.

    >>> from lab.llm import get_provider, run
    >>> reply = run(get_provider("fake", replies=["4"]), [{"role": "user", "content": "2+2?"}])
    >>> reply.text
    '4'

Providers: ``local`` (llama.cpp, offline default), ``openai``, ``anthropic``, ``ollama``,
``openai-compatible`` (any ``/v1`` base URL), ``fake`` (scripted). SDKs are imported only when their
provider is asked for, so ``import lab.llm`` stays light.
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.errors import AuthError, BudgetExceeded, InputError, LabError, MissingKeyError, ProviderError, ProviderTimeout, ProviderUnavailable, RateLimited
from lab.llm.base import Chunk, Message, Options, Provider, Response, ToolCall, Usage, run
from lab.core.keys import ENV_VARS, key_present

PROVIDERS = ("local", "openai", "anthropic", "ollama", "openai-compatible", "fake")


def get_provider(name: str = "local", *, api_key: str | None = None, base_url: str | None = None,
                 model: str | None = None, replies: list | None = None, typed_base_url: bool = False) -> Provider:
    """Build a provider by name. Raises ``MissingKeyError`` (naming the variable) when a key is needed.

    ``typed_base_url=True`` says a page's visitor typed ``base_url`` (the UI sets it; the CLI, the operator's own
    tool, does not): it is then refused when it points at a private address (``lab.prompting.web.check_url``), and it is
    sent only the explicit ``api_key``, never a key from the deployment's environment (``lab.llm.keys``)."""
    if name == "local":
        from lab.llm.local import LocalProvider

        return LocalProvider(model_path=model if model and model.endswith(".gguf") else None)
    if name == "openai":
        from lab.llm.openai_provider import OpenAIProvider

        return OpenAIProvider(api_key=api_key, base_url=base_url, typed_base_url=typed_base_url)
    if name == "openai-compatible":
        from lab.llm.openai_provider import openai_compatible

        return openai_compatible(base_url=base_url, api_key=api_key, model=model, typed_base_url=typed_base_url)
    if name == "anthropic":
        from lab.llm.anthropic_provider import AnthropicProvider

        return AnthropicProvider(api_key=api_key, base_url=base_url, typed_base_url=typed_base_url)
    if name == "ollama":
        from lab.llm.ollama_provider import OllamaProvider

        return OllamaProvider(host=base_url, typed_base_url=typed_base_url)
    if name == "fake":
        from lab.llm.fake import FakeProvider

        return FakeProvider(replies)
    raise InputError(f"Unknown provider {name!r}; choose one of: {', '.join(PROVIDERS)}.")


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
        from lab.llm.local import engine_status   # which engine runs it: llama-server, in-process, or remote engines

        st_ = engine_status()
        detail = f"SmolLM2-135M: {st_['detail']}" + (f" (fell back in-process: {st_['fallback'][:160]})"
                                                     if st_.get("fallback") else "")
    out = [ProviderStatus("local", gguf is not None, detail)]
    for name in ("openai", "anthropic"):
        ok = key_present(name)
        out.append(ProviderStatus(name, ok, "key set" if ok else f"set {ENV_VARS[name]}"))
    out.append(ProviderStatus("ollama", True, f"needs a running server at {s.ollama_host}"))
    url = s.openai_compatible_base_url
    out.append(ProviderStatus("openai-compatible", bool(url), url or "set LAB_OPENAI_COMPATIBLE_BASE_URL or enter a URL"))
    return out


__all__ = ["PROVIDERS", "get_provider", "provider_status", "run", "Options", "Chunk", "Response", "Usage", "ToolCall",
           "Message", "Provider", "LabError", "InputError", "MissingKeyError", "AuthError", "ProviderUnavailable",
           "ProviderTimeout", "ProviderError", "RateLimited", "BudgetExceeded"]
