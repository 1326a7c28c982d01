"""How much memory would this model hold in 8 or 4 bits? Measured with bitsandbytes on a GPU, estimated on a CPU.

The estimate counts what bitsandbytes stores: int8 weights plus one scale per row; NF4 weights plus one absmax
per 64 weights (8-bit with double quantization, plus one fp32 per 256 of those scales).
"""

from __future__ import annotations

from lab.core.device import device
from lab.core.errors import InputError
from lab.pipelines.loading import load
from lab.pipelines.replacements import _register_lab_pipelines
from lab.pipelines.tasks import TASKS

BNB_BLOCK = 64  # bitsandbytes 4-bit: one absmax scale per 64 weights...
BNB_DOUBLE_BLOCK = 256  # ...stored in 8 bits with double quant, plus one fp32 per 256 of those scales


def quantized_estimate(model, bits: int) -> int:
    """Bytes the model would take with bitsandbytes ``bits``-bit Linear weights (the rest kept as they are).

    Which layers stay unquantized is transformers' own rule (``get_keys_to_not_convert``: the output head and
    tied weights). 4-bit (NF4 with double quant, as the course loads it) adds about one byte per 64 weights for
    the scales; 8-bit (LLM.int8) one fp32 scale per output row.
    """
    import torch
    from transformers.quantizers.base import get_keys_to_not_convert

    if bits not in (4, 8):
        raise InputError("bitsandbytes quantizes to 4 or 8 bits.")
    keep = set(get_keys_to_not_convert(model))
    total = 0
    quantized_ids = set()
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and name not in keep:
            n = module.weight.numel()
            blocks = -(-n // BNB_BLOCK)
            scales = blocks + 4 * -(-blocks // BNB_DOUBLE_BLOCK) if bits == 4 else module.out_features * 4
            total += n * bits // 8 + scales
            quantized_ids.add(id(module.weight))
    for p in model.parameters():  # everything else at its current size (and buffers, as get_memory_footprint counts)
        if id(p) not in quantized_ids:
            total += p.numel() * p.element_size()
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    return int(total)


def quantized_footprints(task: str, model: str | None = None, *, tiny: bool = False) -> dict:
    """The course's comparison: full footprint vs 8-bit vs 4-bit. Measured on a GPU, estimated on a CPU."""
    loaded, where = load(task, model, tiny=tiny)
    net = loaded.pipe.model if hasattr(loaded.pipe, "model") else loaded.pipe[0].auto_model
    out = {"model": where.label, "full_bytes": int(net.get_memory_footprint()), "device": device()}
    estimate = {"measured": False, "int8_bytes": quantized_estimate(net, 8), "nf4_bytes": quantized_estimate(net, 4)}
    how = "estimated from the layer shapes: Linear weights at 8 or 4 bits plus their scales, everything else unchanged."
    if device() != "cuda":
        return (
            out
            | estimate
            | {
                "why": "bitsandbytes' 4-bit and 8-bit kernels are built for CUDA GPUs (recent "
                "versions also run on CPU, slowly), so on this CPU machine the sizes are " + how
            }
        )
    if not hasattr(loaded.pipe, "model"):  # the sentence-transformers stand-in is not a pipeline(...) to reload
        return out | estimate | {"why": "The offline MiniLM stand-in is not reloaded quantized; sizes " + how}
    from transformers import BitsAndBytesConfig, pipeline

    spec = TASKS[task]
    for key, cfg in (
        ("int8_bytes", BitsAndBytesConfig(load_in_8bit=True)),
        ("nf4_bytes", BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True)),
    ):
        _register_lab_pipelines()
        q = pipeline(spec.hf_task, model=where.ref, model_kwargs={"quantization_config": cfg}, **spec.kwargs)
        out[key] = int(q.model.get_memory_footprint())
        del q
    return out | {"measured": True, "why": "Loaded again with BitsAndBytesConfig on the GPU and measured."}
