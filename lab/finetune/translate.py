"""Pure translators from a ``RunConfig`` to what peft, bitsandbytes (via transformers) and trl take.

Nothing here loads a model: each function builds one library config object from the validated fields, and
``check_device`` refuses, with the fix, what the chosen device cannot run (paged optimizers, fp16 on CPU):

    >>> from lab.finetune.config import RunConfig
    >>> cfg = RunConfig(lora_r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"], quantization="4bit")
    >>> lora_config(cfg).r, sorted(lora_config(cfg).target_modules)
    (8, ['q_proj', 'v_proj'])
    >>> bnb_config(cfg).bnb_4bit_quant_type, bnb_config(cfg).bnb_4bit_use_double_quant
    ('nf4', True)
    >>> sft_config(cfg, "/tmp/run", device="cpu").completion_only_loss
    True
    >>> resolve_dtype(cfg, "cpu")
    'bfloat16'
"""

from __future__ import annotations

from pathlib import Path

from lab.core.errors import InputError
from lab.finetune.config import PAGED_OPTIMIZERS, RunConfig


def resolve_dtype(cfg: RunConfig, device: str) -> str:
    """The compute dtype as a torch name. 4-bit on any device computes in bf16 (fp16 on pre-Ampere GPUs)."""
    if cfg.dtype != "auto":
        return cfg.dtype
    if device == "cuda":
        import torch

        return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
    return "bfloat16" if cfg.quantization == "4bit" else "float32"


def check_device(cfg: RunConfig, device: str) -> None:
    """Refuse what this device cannot run, naming the fix (used before a local launch; Modal runs on CUDA)."""
    if device != "cuda" and cfg.optimizer in PAGED_OPTIMIZERS:
        raise InputError(
            f"optimizer {cfg.optimizer} pages its states between GPU and CPU memory: it needs CUDA. "
            "On this CPU choose adamw_torch, or run the config on Modal."
        )
    if device != "cuda" and cfg.dtype == "float16":
        raise InputError(
            "float16 training needs a CUDA GPU (its loss scaling is a GPU path); use float32 or bfloat16 on CPU."
        )


def lora_config(cfg: RunConfig):
    """peft.LoraConfig for a causal LM; biases stay frozen (bias='none'), as the course."""
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def bnb_config(cfg: RunConfig, compute_dtype: str = "bfloat16"):
    """transformers.BitsAndBytesConfig (None without quantization). 4-bit = the course's QLoRA recipe."""
    if cfg.quantization == "none":
        return None
    import torch
    from transformers import BitsAndBytesConfig

    if cfg.quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=getattr(torch, compute_dtype),
    )


def sft_config(cfg: RunConfig, output_dir: str | Path, *, device: str = "cpu", has_eval: bool = False):
    """trl.SFTConfig for a prompt/completion dataset: the loss counts only the completion (the price) tokens.

    trl 1.x replaced the course's ``DataCollatorForCompletionOnlyLM`` by ``completion_only_loss=True`` on a dataset
    with ``prompt`` and ``completion`` columns. transformers 5 folded ``warmup_ratio`` into ``warmup_steps``: a float
    below 1 there is read as a ratio of the total steps.
    """
    from trl import SFTConfig

    check_device(cfg, device)
    dtype = resolve_dtype(cfg, device)
    return SFTConfig(
        output_dir=str(output_dir),
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps or -1,
        per_device_train_batch_size=cfg.batch_size,
        per_device_eval_batch_size=cfg.batch_size,
        gradient_accumulation_steps=cfg.grad_accum,
        learning_rate=cfg.learning_rate,
        lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=cfg.warmup_ratio,
        optim=cfg.optimizer,
        weight_decay=cfg.weight_decay,
        max_grad_norm=cfg.max_grad_norm,
        max_length=cfg.max_seq_length,
        completion_only_loss=True,
        activation_checkpointing=cfg.gradient_checkpointing,  # transformers 5 name of gradient checkpointing
        # mixed precision is a GPU path; on CPU the weights are simply loaded in the compute dtype
        bf16=device == "cuda" and dtype == "bfloat16",
        fp16=device == "cuda" and dtype == "float16",
        use_cpu=device != "cuda",
        logging_steps=cfg.logging_steps,
        save_strategy="steps",
        save_steps=cfg.save_steps,
        save_total_limit=2,
        eval_strategy="steps" if has_eval else "no",
        eval_steps=cfg.eval_steps if has_eval else None,
        seed=cfg.seed,
        data_seed=cfg.seed,
        report_to="none",
        disable_tqdm=True,
        dataset_num_proc=None,
    )
