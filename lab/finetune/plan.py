"""The memory plan: what a run will hold in memory, worked out before launching it.

Training memory is five piles, each a count times a size in bytes:

    weights      frozen base weights: linear layers at the chosen precision (4-bit NF4 ~ 0.516 byte each, with
                 double quantization's constants), everything else (embeddings, norms) in the compute dtype
    adapter      the LoRA matrices A and B, counted exactly by peft on a weightless ("meta") copy of the model;
                 peft keeps them in fp32 (4 bytes)
    gradients    one fp32 number per trainable parameter
    optimizer    AdamW: two fp32 moments per trainable parameter (8 bytes); paged 8-bit AdamW: 2 bytes; SGD: 0
    activations  what the forward pass keeps for the backward pass: per token and decoder layer about
                 10*hidden + 4*intermediate numbers (norm inputs, q/k/v, attention output, the 4 MLP tensors), in
                 the compute dtype; with gradient checkpointing only each layer's input plus one layer's worth

Worked by hand for SmolLM2-135M (30 layers, hidden 576, MLP 1536, 9 heads, 3 KV heads), LoRA r=8 on q_proj
(576->576) and v_proj (576->192): 8*(576+576) + 8*(576+192) = 15,360 per layer, x30 = 460,800 trainable of
134,975,808 (0.34%). In fp32 on CPU the weights are 134,515,008 x 4 bytes = 538 MB; the adapter, its gradients
and AdamW states 460,800 x (4+4+8) = 7.4 MB; activations for batch 4 x 128 tokens: 30 x 512 x (5760+6144) x 4
bytes = 731 MB. So on CPU the activations, not the adapter, decide whether a bigger batch fits.

    >>> p = plan(RunConfig())                       # doctest: +SKIP
    >>> p.trainable_params, p.total_params          # doctest: +SKIP
    (460800, 134975808)

trl computes the loss with a fused LM head in chunks, so the batch x seq x vocab logits are never held whole;
the plan leaves them out and says so.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from lab.core.device import device as detect_device
from lab.core.errors import InputError
from lab.core.once import once
from lab.finetune.config import RunConfig, resolve_base_model
from lab.finetune.translate import lora_config, resolve_dtype

DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
# NF4: 4 bits per weight, plus one 8-bit absmax per block of 64 weights and (double quantization) one fp32
# constant per 256 such blocks: 0.5 + 1/64 + 4/(64*256) bytes.
NF4_DOUBLE_QUANT_BYTES = 0.5 + 1 / 64 + 4 / (64 * 256)
INT8_BYTES = 1.0
OPTIMIZER_BYTES = {"adamw_torch": 8, "paged_adamw_32bit": 8, "paged_adamw_8bit": 2, "sgd": 0, "adafactor": 4}
# A Python process with torch, transformers, peft, trl and datasets imported, before any model: 542 MiB peak
# resident set measured here (CPU build of torch 2.13), rounded up. On CUDA the plan is compared with
# torch.cuda.max_memory_allocated, which does not include it.
CPU_RUNTIME_BYTES = 550 * 2**20
FIT_MARGIN = 0.9  # plan to use at most 90% of the device's free memory


@dataclass
class MemoryPlan:
    base_model: str
    device: str
    dtype: str
    quantization: str
    total_params: int
    trainable_params: int
    quantized_params: int
    weights_bytes: int
    adapter_bytes: int
    gradient_bytes: int
    optimizer_bytes: int
    activation_bytes: int
    runtime_bytes: int
    device_bytes: int
    target_choices: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def estimated_peak_bytes(self) -> int:
        return (
            self.weights_bytes
            + self.adapter_bytes
            + self.gradient_bytes
            + self.optimizer_bytes
            + self.activation_bytes
            + self.runtime_bytes
        )

    @property
    def trainable_share(self) -> float:
        return self.trainable_params / self.total_params if self.total_params else 0.0

    @property
    def fits(self) -> bool:
        return self.estimated_peak_bytes <= FIT_MARGIN * self.device_bytes

    def rows(self) -> list[dict]:
        """One row per pile, for a table or a bar chart."""
        return [
            {"part": "base weights", "bytes": self.weights_bytes},
            {"part": "LoRA adapter (fp32)", "bytes": self.adapter_bytes},
            {"part": "gradients (fp32)", "bytes": self.gradient_bytes},
            {"part": "optimizer states", "bytes": self.optimizer_bytes},
            {"part": "activations", "bytes": self.activation_bytes},
            {"part": "runtime (python + libraries)", "bytes": self.runtime_bytes},
        ]

    def to_dict(self) -> dict:
        return asdict(self) | {
            "estimated_peak_bytes": self.estimated_peak_bytes,
            "trainable_share": self.trainable_share,
            "fits": self.fits,
        }


# ---------------------------------------------------------------------------------------------- model shape
def model_config(base_model: str):
    """The model's transformers config (cached): a local folder offline, or a Hub id when the Hub is reachable."""
    name = resolve_base_model(base_model)
    try:
        return _auto_config(name)
    except (OSError, ValueError) as e:
        raise InputError(
            f"cannot read the config of {base_model!r}: {str(e).splitlines()[0][:200]}. Offline, use "
            "'smollm2' (or a local folder); a Hub id needs network (and HF_TOKEN for gated models like "
            "Llama)."
        ) from e


@once
def _auto_config(name: str):
    from transformers import AutoConfig

    return AutoConfig.from_pretrained(name)


def meta_model(base_model: str):
    """The model built on the 'meta' device: every shape, no weight bytes, so a 70B model costs nothing here."""
    import torch
    from transformers import AutoModelForCausalLM

    config = model_config(base_model)  # read (or converted) outside the meta context: files need real tensors
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def linear_layer_names(model) -> list[str]:
    """LoRA target candidates: the distinct names of the model's nn.Linear layers, minus the output head."""
    import torch

    names = {n.rsplit(".", 1)[-1] for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    return sorted(names - {"lm_head"})


def target_choices(base_model: str) -> list[str]:
    return linear_layer_names(meta_model(base_model))


def count_params(cfg: RunConfig) -> tuple[int, int, int, list[str]]:
    """(base params, quantizable linear params, exact LoRA params, target choices) from peft on a meta model."""
    import torch
    from peft import get_peft_model

    model = meta_model(cfg.base_model)
    choices = linear_layer_names(model)
    missing = [t for t in cfg.target_modules if t not in choices]
    if missing:
        raise InputError(f"target modules {missing} are not linear layers of {cfg.base_model}; choose from {choices}")
    base = sum(p.numel() for p in model.parameters())  # tied embeddings count once
    linear = sum(
        m.weight.numel()
        for n, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")
    )
    trainable, _ = get_peft_model(model, lora_config(cfg)).get_nb_trainable_parameters()
    return base, linear, trainable, choices


# ---------------------------------------------------------------------------------------------- estimate
def activation_bytes(cfg: RunConfig, mc, act_bytes: int) -> int:
    """Saved activations for one batch: see the module docstring for the per-token, per-layer count."""
    tokens = cfg.batch_size * cfg.max_seq_length
    per_layer = 10 * mc.hidden_size + 4 * mc.intermediate_size
    layers = mc.num_hidden_layers
    if cfg.gradient_checkpointing:
        return tokens * (layers * mc.hidden_size + per_layer) * act_bytes
    return tokens * layers * per_layer * act_bytes


def device_memory(device: str) -> int:
    """Bytes available to a run: the GPU's total memory, or the RAM free right now."""
    if device == "cuda":
        import torch

        return int(torch.cuda.mem_get_info()[1])
    import psutil

    return int(psutil.virtual_memory().available)


def plan(cfg: RunConfig, device: str | None = None, device_bytes: int | None = None) -> MemoryPlan:
    """The memory plan of ``cfg`` on ``device`` (default: the detected one)."""
    device = device or detect_device()
    dtype = resolve_dtype(cfg, device)
    act = DTYPE_BYTES[dtype]
    base, linear, trainable, choices = count_params(cfg)
    per_linear = {"none": act, "8bit": INT8_BYTES, "4bit": NF4_DOUBLE_QUANT_BYTES}[cfg.quantization]
    weights = int(linear * per_linear + (base - linear) * act)
    mc = model_config(cfg.base_model).get_text_config()
    notes = ["Logits (batch x seq x vocab) are not counted: trl's fused LM head computes the loss in chunks."]
    if device == "cuda":
        notes.append(
            "On CUDA the measured peak is torch.cuda.max_memory_allocated (the CUDA context, ~0.5 GB, is not in it)."
        )
    else:
        notes.append("On CPU the measured peak is the process's peak resident memory, so the runtime line counts.")
    p = MemoryPlan(
        base_model=cfg.base_model,
        device=device,
        dtype=dtype,
        quantization=cfg.quantization,
        total_params=base + trainable,
        trainable_params=trainable,
        quantized_params=linear if cfg.quantization != "none" else 0,
        weights_bytes=weights,
        adapter_bytes=4 * trainable,
        gradient_bytes=4 * trainable,
        optimizer_bytes=OPTIMIZER_BYTES[cfg.optimizer] * trainable,
        activation_bytes=activation_bytes(cfg, mc, act),
        runtime_bytes=0 if device == "cuda" else CPU_RUNTIME_BYTES,
        device_bytes=device_bytes if device_bytes is not None else device_memory(device),
        target_choices=choices,
        notes=notes,
    )
    if not p.fits:
        p.notes.append(
            f"Does NOT fit: needs ~{p.estimated_peak_bytes / 2**30:.2f} GiB of {p.device_bytes / 2**30:.2f} GiB. "
            "Try 4-bit quantization, a smaller batch with more gradient accumulation, gradient "
            "checkpointing, or a shorter max_seq_length."
        )
    return p


def human(n: float) -> str:
    """Bytes for people: 1536 -> '1.5 KiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"
