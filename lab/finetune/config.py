"""One fine-tuning run, described by a validated pydantic model: its fields, the course's presets, YAML in and out.

A ``RunConfig`` holds every knob of a LoRA / QLoRA supervised fine-tune (the base model, the quantization, the
LoRA adapter, the SFT schedule). Each field's ``description`` is the help text the page shows, and each rule that
the fields must keep together (alpha, targets, steps) is a validator whose message names the fix:

    >>> cfg = RunConfig(lora_r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], quantization="4bit")
    >>> cfg.lora_r, cfg.effective_batch
    (8, 4)
    >>> RunConfig(lora_alpha=0)   # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    pydantic_core._pydantic_core.ValidationError: ... lora_alpha 0 scales the LoRA update by alpha/r = 0, ...

Presets are the course's two settings (week 7, QLoRA on Llama 3.2): ``lite`` (r 32, attention layers, batch 32,
1 epoch) and ``full`` (r 256, attention + MLP layers, batch 256, 3 epochs), both 4-bit with paged AdamW on a GPU.
Configs save and load as YAML (``to_yaml`` / ``from_file`` for a path the operator names / ``from_yaml_text`` for
content such as an upload, which is never opened as a path) so a run can be repeated or sent to Modal; the checks
on the file itself live in ``lab.finetune.config_file``, the translators to peft / transformers / trl in
``lab.finetune.translate``. One module because the fields, their cross-field rules, the presets and the YAML
round-trip are one contract; ~400 lines, most of them the field descriptions the page shows as help.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator, model_validator

from lab.core.errors import InputError
from lab.finetune.config_file import parse_yaml_mapping, read_config_file

_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,40}")

# The offline default: SmolLM2-135M-Instruct, whose transformers copy lab.core.assets makes from the shipped GGUF.
# The alias keeps saved configs portable: locally it resolves to that folder, on Modal to the same Hub model.
OFFLINE_BASE = "smollm2"
OFFLINE_BASE_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
ATTENTION_LAYERS = ["q_proj", "v_proj", "k_proj", "o_proj"]
MLP_LAYERS = ["gate_proj", "up_proj", "down_proj"]
PAGED_OPTIMIZERS = ("paged_adamw_32bit", "paged_adamw_8bit")


class RunConfig(BaseModel):
    """Everything that defines one run. Units: learning rate per step, lengths in tokens, sizes in items."""

    # hide_input_in_errors: a ValidationError's text never carries the offending values (an uploaded file may
    # hold a key or a password next to the fields); the field and the rule are enough to fix it.
    model_config = {"extra": "forbid", "hide_input_in_errors": True}

    # ---- model
    base_model: str = Field(
        OFFLINE_BASE,
        min_length=1,
        description=(
            "The model to adapt. 'smollm2' = SmolLM2-135M-Instruct, on this machine with no network. Online, any Hub "
            "id (the course used meta-llama/Llama-3.2-3B) or a local folder in transformers format."
        ),
    )
    quantization: Literal["none", "8bit", "4bit"] = Field(
        "none",
        description=(
            "How the frozen base weights are stored. 4bit = QLoRA: NF4 with double quantization and bf16 compute, as the "
            "course (about 0.5 byte per weight instead of 2); 8bit = LLM.int8(); none = the compute precision."
        ),
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto",
        description=(
            "Compute precision. auto = bf16 on a recent CUDA GPU, fp16 on an older one, fp32 on CPU (most CPUs compute "
            "fp32 faster than bf16)."
        ),
    )
    # ---- LoRA
    lora_r: int = Field(
        8,
        ge=1,
        le=1024,
        description=(
            "LoRA rank: each adapted weight W (out x in) learns W + B·A with A (r x in) and B (out x r), so r*(in+out) "
            "trainable numbers per layer. Higher = more capacity and memory. Course: 32 (lite), 256 (full)."
        ),
    )
    lora_alpha: int = Field(
        16,
        ge=0,
        le=4096,
        description=("LoRA scaling: the update B·A is multiplied by alpha / r. The course uses alpha = 2 x r."),
    )
    lora_dropout: float = Field(
        0.1,
        ge=0.0,
        le=0.5,
        description=("Dropout on the adapter's input during training, against overfitting (course: 0.1)."),
    )
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "v_proj"],
        description=(
            "Which linear layers get an adapter, by name, in every decoder block. Attention: q/k/v/o_proj; "
            "MLP: gate/up/down_proj. More layers = more trainable parameters."
        ),
    )
    # ---- data
    train_size: int = Field(
        200,
        ge=1,
        le=1_000_000,
        description=("How many training items (prompt -> price) from the pricer's train split."),
    )
    val_size: int = Field(
        0,
        ge=0,
        le=100_000,
        description=(
            "Validation items from the pricer's val split for an eval loss curve (0 = no evaluation, faster)."
        ),
    )
    # ---- SFT schedule
    epochs: int = Field(1, ge=1, le=50, description="Passes over the training items (course: 1 lite, 3 full).")
    max_steps: int = Field(
        20,
        ge=0,
        le=1_000_000,
        description=(
            "Stop after this many optimizer steps; 0 = run the full epochs. 20 steps of SmolLM2 take a few minutes "
            "on a laptop CPU and already show the loss falling."
        ),
    )
    batch_size: int = Field(
        4,
        ge=1,
        le=1024,
        description=("Items per forward pass. Activation memory grows linearly with it (course: 32 lite, 256 full)."),
    )
    grad_accum: int = Field(
        1,
        ge=1,
        le=256,
        description=(
            "Gradient accumulation: add up gradients over this many batches before one optimizer step, so the "
            "effective batch is batch_size x grad_accum at the memory cost of one batch."
        ),
    )
    learning_rate: float = Field(
        2e-4,
        gt=0.0,
        le=1.0,
        description=(
            "Peak step size of the optimizer (course: 1e-4). LoRA tolerates higher rates than full fine-tuning."
        ),
    )
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = Field(
        "cosine",
        description=("How the learning rate moves after warmup: cosine decays smoothly to 0 (the course's choice)."),
    )
    warmup_ratio: float = Field(
        0.01,
        ge=0.0,
        le=0.5,
        description=("Share of the steps spent ramping the learning rate up from 0 (course: 0.01)."),
    )
    optimizer: Literal["adamw_torch", "sgd", "adafactor", "paged_adamw_32bit", "paged_adamw_8bit"] = Field(
        "adamw_torch",
        description=(
            "AdamW keeps two numbers per trainable parameter (8 bytes in fp32). Paged AdamW (the course's "
            "paged_adamw_32bit) moves its states to CPU RAM when the GPU runs short: CUDA only."
        ),
    )
    max_seq_length: int = Field(
        192,
        ge=8,
        le=32768,
        description=(
            "Longest training sequence in tokens (prompt + price); longer ones are cut at the end, losing their price. "
            "Course: 128 Llama tokens; SmolLM2 spends one token per digit, so the pricer's prompts need up to ~165."
        ),
    )
    weight_decay: float = Field(
        0.001, ge=0.0, le=1.0, description="L2-style shrinkage of the adapter weights (course: 0.001)."
    )
    max_grad_norm: float = Field(
        0.3,
        ge=0.0,
        le=100.0,
        description=(
            "Clip the gradient's norm to this before each step, against loss spikes (course: 0.3; 0 = no clipping)."
        ),
    )
    gradient_checkpointing: bool = Field(
        False,
        description=(
            "Recompute each block's activations in the backward pass instead of storing them: much less activation "
            "memory for about 30% more compute."
        ),
    )
    logging_steps: int = Field(1, ge=1, le=100_000, description="Record the training loss every this many steps.")
    save_steps: int = Field(
        50,
        ge=1,
        le=1_000_000,
        description=(
            "Save a checkpoint (adapter + optimizer state) every this many steps: what a stopped run resumes from."
        ),
    )
    eval_steps: int = Field(
        20, ge=1, le=1_000_000, description="Compute the validation loss every this many steps (needs val_size > 0)."
    )
    seed: int = Field(42, ge=0, le=2**31 - 1, description="Random seed for data order, adapter init and dropout.")

    @field_validator("lora_alpha")
    @classmethod
    def _alpha_positive(cls, v: int) -> int:
        if v == 0:
            raise ValueError(
                "lora_alpha 0 scales the LoRA update by alpha/r = 0, so the adapter would change "
                "nothing; use alpha = 2 x r (the course's choice) or at least 1"
            )
        return v

    @field_validator("target_modules")
    @classmethod
    def _targets(cls, v: list[str]) -> list[str]:
        v = list(dict.fromkeys(s.strip() for s in v if s.strip()))
        if not v:
            raise ValueError("choose at least one target module (q_proj and v_proj are the classic pair)")
        bad = [s for s in v if not s.replace("_", "").replace(".", "").isalnum()]
        if bad:  # counted, not echoed: values are never repeated back (see hide_input_in_errors)
            raise ValueError(
                f"{len(bad)} of the entries are not layer names (letters, digits, _ and . only); "
                "use names like q_proj, v_proj, down_proj"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "RunConfig":
        if self.batch_size > self.train_size:
            raise ValueError(
                f"batch_size {self.batch_size} is larger than the training data ({self.train_size} "
                "items): one step needs more items than exist; lower batch_size or raise train_size"
            )
        if self.max_steps and self.logging_steps > self.max_steps:
            raise ValueError(
                f"logging_steps {self.logging_steps} > max_steps {self.max_steps}: no loss would ever "
                "be recorded; lower logging_steps"
            )
        return self

    # ---- derived numbers
    @property
    def effective_batch(self) -> int:
        return self.batch_size * self.grad_accum

    def planned_steps(self, n_train: int | None = None) -> int:
        """Optimizer steps the run will take: max_steps, else ceil(items / batch) / grad_accum per epoch."""
        if self.max_steps:
            return self.max_steps
        n = self.train_size if n_train is None else n_train
        batches = -(-n // self.batch_size)
        return max(1, batches // self.grad_accum) * self.epochs

    # ---- YAML
    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)

    @classmethod
    def from_yaml_text(cls, text: str | bytes, *, source: str = "the config") -> "RunConfig":
        """A config from YAML *content* (an upload's bytes, a saved config's text): never opened as a path.

        Unknown keys are refused (typos do not pass silently); every error is an ``InputError`` that names the
        field and the rule, never the values (a config may sit next to a secret):

            >>> RunConfig.from_yaml_text("lora_r: 16\\nlora_alpha: 32\\n").lora_r
            16
            >>> RunConfig.from_yaml_text("secrets.yaml")
            Traceback (most recent call last):
            ...
            lab.core.errors.InputError: the config is not a run config: a run config is a YAML mapping of field: value lines ...
        """
        return cls.from_mapping(parse_yaml_mapping(text, source=source), source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> "RunConfig":
        """A config from a YAML file the operator names (the CLI's ``--config FILE``), checked before reading."""
        return cls.from_yaml_text(read_config_file(path), source=f"config file {path}")

    @classmethod
    def from_yaml(cls, source: str | Path) -> "RunConfig":
        """A ``Path`` is read as a file, a ``str`` is YAML text: a string is never guessed to be a path."""
        return cls.from_file(source) if isinstance(source, Path) else cls.from_yaml_text(source)

    @classmethod
    def from_mapping(cls, data: dict, *, source: str = "the config") -> "RunConfig":
        """Validate a parsed mapping; a ``ValidationError`` becomes one ``InputError`` naming field and rule only."""
        try:
            return cls(**data)
        except ValidationError as e:
            raise InputError(f"{source} is not a valid run config: " + "; ".join(field_errors(e))) from None

    def save(self, path: Path) -> Path:
        path.write_text(self.to_yaml())
        return path

    @classmethod
    def preset(cls, name: str, **overrides) -> "RunConfig":
        """The course's ``lite`` or ``full`` settings (GPU-sized); overrides win. The base model stays yours."""
        if name not in PRESETS:
            raise InputError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**(PRESETS[name] | overrides))


# The course's week-7 constants (QLoRA on Llama 3.2 3B, items_prompts_lite / _full), field by field.
PRESETS: dict[str, dict] = {
    "lite": dict(
        quantization="4bit",
        lora_r=32,
        lora_alpha=64,
        lora_dropout=0.1,
        target_modules=ATTENTION_LAYERS,
        epochs=1,
        batch_size=32,
        grad_accum=1,
        max_seq_length=128,
        learning_rate=1e-4,
        warmup_ratio=0.01,
        lr_scheduler="cosine",
        weight_decay=0.001,
        optimizer="paged_adamw_32bit",
        max_grad_norm=0.3,
        logging_steps=5,
        save_steps=100,
        eval_steps=100,
        train_size=1000,
        val_size=500,
        max_steps=0,
    ),
    "full": dict(
        quantization="4bit",
        lora_r=256,
        lora_alpha=512,
        lora_dropout=0.1,
        target_modules=ATTENTION_LAYERS + MLP_LAYERS,
        epochs=3,
        batch_size=256,
        grad_accum=1,
        max_seq_length=128,
        learning_rate=1e-4,
        warmup_ratio=0.01,
        lr_scheduler="cosine",
        weight_decay=0.001,
        optimizer="paged_adamw_32bit",
        max_grad_norm=0.3,
        logging_steps=10,
        save_steps=200,
        eval_steps=200,
        train_size=100_000,
        val_size=1000,
        max_steps=0,
    ),
}


def field_errors(e: ValidationError) -> list[str]:
    """'field: rule' for each error of ``e``, never the offending value (a field name that does not look like one,
    e.g. a pasted key used as a YAML key, is not repeated either).

    >>> try:
    ...     RunConfig(lora_r="abc", api_key="sk-secret")
    ... except ValidationError as e:
    ...     field_errors(e)
    ['lora_r: Input should be a valid integer, unable to parse string as an integer', 'api_key: not a run config field (typo?)']
    """
    from lab.core.keys import redact

    out = []
    for err in e.errors(include_input=False, include_url=False):
        parts = [str(x) for x in err["loc"]]
        loc = ".".join(x if _FIELD_NAME.fullmatch(x) else "(a field)" for x in parts) or "config"
        if err["type"] == "extra_forbidden":
            close = difflib.get_close_matches(parts[0], list(RunConfig.model_fields), n=1) if parts else []
            msg = "not a run config field" + (f" (did you mean {close[0]}?)" if close else " (typo?)")
        else:
            msg = err["msg"].removeprefix("Value error, ")
        out.append(redact(f"{loc}: {msg}"))
    return out


# ------------------------------------------------------------------------------------------- resolution
def resolve_base_model(name: str, *, remote: bool = False) -> str:
    """What ``from_pretrained`` gets: the offline SmolLM2 folder (or its Hub id on a remote GPU), a folder, a Hub id."""
    if name == OFFLINE_BASE:
        if remote:
            return OFFLINE_BASE_HUB_ID
        from lab.core import assets

        try:
            return str(assets.smollm2_hf_dir())
        except FileNotFoundError as e:
            raise InputError(str(e)) from e
    return str(Path(name).expanduser()) if Path(name).expanduser().is_dir() else name
