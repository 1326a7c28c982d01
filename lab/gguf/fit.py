"""Will this GGUF fit in memory at this context size? Estimate before loading, refuse with the numbers.

llama.cpp needs three things in memory: the **weights** (the file's tensor data, memory-mapped), the **KV cache**
(for every layer, a key and a value vector per token of context, in f16) and a **compute buffer** for the
activations of one batch. The KV cache grows linearly with ``n_ctx``, which is why a small model with a long
context can need more memory than its file size suggests.

    KV bytes = 2 (K and V) x layers x n_ctx x (kv_heads x head_dim) x 2 bytes (f16)

    >>> est = estimate(read_gguf(assets.smollm2_gguf()), n_ctx=8192)
    >>> round(est.weights_bytes / 2**20), round(est.kv_bytes / 2**20), round(est.compute_bytes / 2**20)
    (92, 180, 166)                   # llama.cpp prints 92.10, 180.00 and 166.38 MiB for the same settings
    >>> est.line()
    'needs about 0.43 GiB (weights 0.09 + KV cache 0.18 for n_ctx=8,192 + compute 0.16); 20.63 GiB available'
"""

from __future__ import annotations

from dataclasses import dataclass

from lab.core.errors import InputError
from lab.gguf.inspect import GGUFInfo

GiB = 2**30
F16_BYTES = 2
HEADROOM = 0.9  # refuse above 90% of what is free: the OS, Python and the app need the rest


@dataclass
class MemoryEstimate:
    weights_bytes: int
    kv_bytes: int
    compute_bytes: int
    n_ctx: int
    available_bytes: int
    on_gpu_fraction: float = 0.0  # share of the layers offloaded: their weights and KV live in GPU memory

    @property
    def host_bytes(self) -> int:
        """What must fit in RAM: the CPU's share of weights and KV cache, plus the compute buffer."""
        return int((self.weights_bytes + self.kv_bytes) * (1 - self.on_gpu_fraction)) + self.compute_bytes

    @property
    def fits(self) -> bool:
        return self.host_bytes <= HEADROOM * self.available_bytes

    def line(self) -> str:
        gpu = f", {self.on_gpu_fraction:.0%} of it on the GPU" if self.on_gpu_fraction else ""
        return (
            f"needs about {self.host_bytes / GiB:.2f} GiB (weights {self.weights_bytes / GiB:.2f} + KV cache "
            f"{self.kv_bytes / GiB:.2f} for n_ctx={self.n_ctx:,} + compute {self.compute_bytes / GiB:.2f}{gpu}); "
            f"{self.available_bytes / GiB:.2f} GiB available"
        )


def check_n_ctx(n_ctx: int) -> None:
    """A context window is at least one token (a negative one made a negative KV cache, and 'fits')."""
    from lab.core.errors import InputError

    if not isinstance(n_ctx, int) or n_ctx < 1:
        raise InputError(f"--n-ctx {n_ctx}: the context window is a number of tokens, at least 1 (e.g. 4096).")


def estimate(
    info: GGUFInfo, n_ctx: int, *, n_batch: int = 512, n_gpu_layers: int = 0, available_bytes: int | None = None
) -> MemoryEstimate:
    """Memory for ``info``'s model at ``n_ctx`` tokens of context. ``available_bytes`` defaults to free RAM."""
    check_n_ctx(n_ctx)
    f = info.facts
    layers = f["layers"] or 0
    kv_dim = (f["kv_heads"] or 0) * (f["head_dim"] or 0)
    kv = 2 * layers * n_ctx * kv_dim * F16_BYTES
    # The compute buffer is reused op after op, so its size is that of the largest intermediate: the logits
    # (vocab x batch) or the attention scores (context x heads x batch), in f32; +15% for the smaller ones
    # alongside. Checked against llama.cpp's own report for SmolLM2 at n_ctx 2048 and 8192 (within 12%).
    ubatch = min(n_batch, 512)
    compute = int(max(f["vocab_size"] or 0, n_ctx * (f["heads"] or 0)) * ubatch * 4 * 1.15)
    if available_bytes is None:
        import psutil

        available_bytes = psutil.virtual_memory().available
    frac = 0.0
    if n_gpu_layers and layers:
        frac = 1.0 if n_gpu_layers < 0 else min(1.0, n_gpu_layers / (layers + 1))  # +1: the output layer
    return MemoryEstimate(info.body_bytes, kv, compute, n_ctx, available_bytes, frac)


def check_fits(info: GGUFInfo, n_ctx: int, **kw) -> MemoryEstimate:
    """Like ``estimate`` but raises InputError, with the numbers and the fixes, when the model will not fit."""
    est = estimate(info, n_ctx, **kw)
    if not est.fits:
        raise InputError(
            f"{info.path.name} will not fit in memory: it {est.line()}. Lower the context size "
            f"(the KV cache shrinks with it), pick a smaller quantization, or free some memory."
        )
    return est
