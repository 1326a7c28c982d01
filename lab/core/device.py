"""The one answer to "where do PyTorch tensors go here?": ``"cuda"``, ``"mps"`` or ``"cpu"``.

What ``pipeline(..., device=)``, ``model.to()`` and the fine-tune launcher accept. torch is imported inside the
function (it costs seconds), so importing this module is free.

    >>> device() in ("cuda", "mps", "cpu")
    True
"""

from __future__ import annotations


def device() -> str:
    """'cuda' when a CUDA GPU is visible, else 'mps' on Apple silicon, else 'cpu'."""
    import torch

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"
