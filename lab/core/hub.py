"""The one answer to "can this process use the Hugging Face Hub?", and where the Hub's files are cached.

Two questions, asked in this order:
- ``hub_offline()``: has someone switched the Hub off? ``HF_HUB_OFFLINE`` (or ``TRANSFORMERS_OFFLINE``,
  ``HF_DATASETS_OFFLINE``) set to any spelling huggingface_hub reads as true: ``1``, ``true``, ``yes``, ``on``,
  any case. Read from the environment at each call (a test or the CLI may set it after import) and from
  huggingface_hub's own flag (set once, when it was imported).
- ``hub_reachable()``: offline means False at once; else one small API call that must answer within the
  timeout, remembered for a minute (huggingface_hub itself retries a failing lookup for ~30 s).

    >>> [switched_on(v) for v in ("1", "true", "Yes", "ON", "0", "false", "", None)]
    [True, True, True, True, False, False, False, False]

(an ``== "1"`` check, as two labs had, missed ``HF_HUB_OFFLINE=true``.)

Nothing here imports a lab; huggingface_hub is imported inside the functions.
"""

from __future__ import annotations

import os
import threading
import time

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
HUB_TTL_S = 60.0  # how long one reachability answer is trusted
_CHECK: dict[str, float | bool] = {}
_CHECK_LOCK = threading.Lock()  # one probe at a time: concurrent callers share its answer


def switched_on(value: str | None) -> bool:
    """An environment value as huggingface_hub reads a flag: ``1``/``true``/``yes``/``on`` in any case."""
    from huggingface_hub import constants

    return value is not None and value.strip().upper() in constants.ENV_VARS_TRUE_VALUES


def hub_offline() -> bool:
    """True when the Hub is switched off by the environment (every truthy spelling huggingface_hub accepts)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE) or any(switched_on(os.environ.get(v)) for v in OFFLINE_VARS)


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """False at once when offline; else one small API call (cached ``HUB_TTL_S``) that must answer in time."""
    if hub_offline():
        return False
    with _CHECK_LOCK:
        now = time.monotonic()
        if _CHECK and now - float(_CHECK["at"]) < HUB_TTL_S:
            return bool(_CHECK["ok"])
        from huggingface_hub import HfApi

        try:
            HfApi().model_info("openai-community/gpt2", timeout=timeout_s)
            ok = True
        except Exception:  # no network, DNS failure, timeout, proxy: all mean "not now"
            ok = False
        _CHECK.update(at=now, ok=ok)
        return ok


def hub_cache_dir() -> str:
    """The folder huggingface_hub downloads into (``HF_HUB_CACHE``, by default ~/.cache/huggingface/hub)."""
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def in_hub_cache(model_id: str) -> bool:
    """Whether ``model_id``'s config.json is already in the Hub cache (so it loads without the network)."""
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # not a valid repo id
        return False
