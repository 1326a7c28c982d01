"""The training process itself: ``python -m lab.finetune.trainer RUN_DIR [--resume]``.

It reads what ``lab.finetune.runner`` prepared in RUN_DIR and writes back what the page plots:

    RUN_DIR/config.yaml           the RunConfig (input)
    RUN_DIR/train.jsonl, val.jsonl prompt/completion pairs (input)
    RUN_DIR/progress.jsonl        one line per logging step (output), e.g.
        {"step": 5, "epoch": 0.1, "loss": 2.91, "learning_rate": 0.0002, "steps_per_s": 0.8, "eta_s": 19.0, "t": 6.2}
    RUN_DIR/status.json           {"state": "running" | "stopped" | "finished" | "failed", "step": ..., "peak_bytes": ...}
    RUN_DIR/checkpoints/checkpoint-N   adapter + optimizer state every save_steps (what --resume continues from)
    RUN_DIR/adapter/              the final LoRA adapter (peft format) and tokenizer

Stopping is cooperative: a ``STOP`` file in RUN_DIR or a SIGTERM sets a flag that ``LabCallback`` reads after the
next optimizer step; it then asks the Trainer to save a checkpoint and stop, so nothing is lost. The peak memory is
measured as the run goes: ``torch.cuda.max_memory_allocated`` on CUDA, the process's peak resident set on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from pathlib import Path

from transformers import TrainerCallback
from transformers.trainer_callback import PrinterCallback

from lab.core.device import device as detect_device
from lab.finetune.config import RunConfig, resolve_base_model
from lab.finetune.data import read_jsonl
from lab.finetune.runner import STOP_FILE, last_checkpoint, write_status
from lab.finetune.translate import bnb_config, check_device, lora_config, resolve_dtype, sft_config


def peak_bytes(device: str) -> int:
    if device == "cuda":
        import torch

        return int(torch.cuda.max_memory_allocated())
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


class LabCallback(TrainerCallback):
    """Writes progress lines and status; turns a STOP file or SIGTERM into a clean checkpoint-and-stop."""

    def __init__(self, run_dir: Path, device: str, echo=None):
        self.run_dir, self.device, self.echo = run_dir, device, echo
        self.stop_requested = False
        self.t0 = time.time()
        self.step0 = 0

    def _stop_wanted(self) -> bool:
        return self.stop_requested or (self.run_dir / STOP_FILE).exists()

    def on_train_begin(self, args, state, control, **kw):
        self.t0, self.step0 = time.time(), state.global_step
        write_status(self.run_dir, state="running", step=state.global_step, max_steps=state.max_steps)

    def on_log(self, args, state, control, logs=None, **kw):
        logs = logs or {}
        elapsed = time.time() - self.t0
        done = state.global_step - self.step0
        sps = done / elapsed if elapsed > 0 and done else None
        row = {
            "step": state.global_step,
            "epoch": round(state.epoch or 0.0, 4),
            "t": round(elapsed, 2),
            "steps_per_s": sps,
            "eta_s": (state.max_steps - state.global_step) / sps if sps else None,
        }
        for key in ("loss", "eval_loss", "learning_rate", "grad_norm", "train_loss"):
            if key in logs:
                row[key] = float(logs[key])
        with (self.run_dir / "progress.jsonl").open("a") as f:
            f.write(json.dumps(row) + "\n")
        if self.echo:
            self.echo(row)
        write_status(
            self.run_dir, step=state.global_step, max_steps=state.max_steps, peak_bytes=peak_bytes(self.device)
        )

    def on_step_end(self, args, state, control, **kw):
        if self._stop_wanted():
            control.should_save = True  # a checkpoint at this very step: --resume continues from it
            control.should_training_stop = True
            write_status(self.run_dir, state="stopping", step=state.global_step)


def load_model(cfg: RunConfig, device: str):
    """Tokenizer and base model at the configured precision (bitsandbytes 4/8-bit when asked)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = resolve_base_model(cfg.base_model)
    dtype = resolve_dtype(cfg, device)
    tok = AutoTokenizer.from_pretrained(name)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    kwargs = {"dtype": getattr(torch, dtype)}
    quant = bnb_config(cfg, dtype)
    if quant is not None:
        kwargs["quantization_config"] = quant
        kwargs["device_map"] = {"": 0} if device == "cuda" else {"": "cpu"}
    model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
    return tok, model


def train(run_dir: Path, resume: bool = False, echo=None) -> dict:
    """Run the SFT of RUN_DIR to the end (or to a stop); returns the final status."""
    from datasets import Dataset
    from trl import SFTTrainer

    run_dir = Path(run_dir)
    cfg = RunConfig.from_yaml(run_dir / "config.yaml")
    device = detect_device()
    check_device(cfg, device)
    (run_dir / STOP_FILE).unlink(missing_ok=True)
    write_status(
        run_dir, state="loading", pid=os.getpid(), device=device, started=time.time(), error=None, resumed=bool(resume)
    )
    callback = LabCallback(run_dir, device, echo)
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: setattr(callback, "stop_requested", True))
    try:
        if device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        tok, model = load_model(cfg, device)
        train_rows, val_rows = read_jsonl(run_dir / "train.jsonl"), read_jsonl(run_dir / "val.jsonl")
        args = sft_config(cfg, run_dir / "checkpoints", device=device, has_eval=bool(val_rows))
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train_rows),
            eval_dataset=Dataset.from_list(val_rows) if val_rows else None,
            processing_class=tok,
            peft_config=lora_config(cfg),
            callbacks=[callback],
        )
        # with tqdm off, transformers prints each log dict to stdout; our callback already records them, and stdout
        # must stay clean for `finetune run --json`
        trainer.remove_callback(PrinterCallback)
        ckpt = last_checkpoint(run_dir) if resume else None
        t0 = time.time()
        trainer.train(resume_from_checkpoint=str(ckpt) if ckpt else None)
        train_seconds = round(time.time() - t0, 1)
        stopped = callback._stop_wanted() and trainer.state.global_step < trainer.state.max_steps
        if not stopped:
            trainer.save_model(str(run_dir / "adapter"))  # peft: only the adapter weights + adapter_config.json
            tok.save_pretrained(str(run_dir / "adapter"))
        return write_status(
            run_dir,
            state="stopped" if stopped else "finished",
            step=trainer.state.global_step,
            max_steps=trainer.state.max_steps,
            peak_bytes=peak_bytes(device),
            ended=time.time(),
            train_seconds=train_seconds,
        )
    except BaseException as e:
        write_status(
            run_dir, state="failed", error=f"{type(e).__name__}: {e}", ended=time.time(), peak_bytes=peak_bytes(device)
        )
        traceback.print_exc()
        raise


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m lab.finetune.trainer", description=__doc__.splitlines()[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--resume", action="store_true", help="Continue from the run's last checkpoint.")
    a = ap.parse_args(argv)
    try:
        status = train(a.run_dir, resume=a.resume, echo=lambda row: print(json.dumps(row), flush=True))
    except Exception:
        return 1
    print(json.dumps(status))
    return 0


if __name__ == "__main__":
    sys.exit(main())
