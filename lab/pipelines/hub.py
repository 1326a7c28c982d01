"""TODO doc for lab.pipelines.hub"""

from __future__ import annotations

import os
import time




def device() -> str:
    """'cuda' when a CUDA GPU is visible, else 'cpu' (what pipeline(..., device=) and .to() accept)."""
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


_HUB_CHECK: dict[str, float | bool] = {}
_HUB_TTL_S = 60.0


def hub_reachable(timeout_s: float = 2.0) -> bool:
    """False at once when ``HF_HUB_OFFLINE`` is set; else one small API call (cached a minute) that must answer in time."""
    from huggingface_hub import HfApi, is_offline_mode

    if is_offline_mode() or os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    now = time.monotonic()
    if _HUB_CHECK and now - float(_HUB_CHECK["at"]) < _HUB_TTL_S:
        return bool(_HUB_CHECK["ok"])
    try:
        HfApi().model_info("openai-community/gpt2", timeout=timeout_s)
        ok = True
    except Exception:  # no network, DNS failure, timeout, proxy: all mean "not now"
        ok = False
    _HUB_CHECK.update(at=now, ok=ok)
    return ok


def hub_cache_dir() -> str:
    from huggingface_hub import constants

    return constants.HF_HUB_CACHE


def in_hub_cache(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "config.json"), str)
    except Exception:  # not a valid repo id
        return False
