"""Background runs on the tiny model: start, live progress, a clean stop with a checkpoint, resume, one at a time;
a foreground run to the end (the CLI's path) with a falling loss, QLoRA 4-bit on CPU, and evaluation."""

from __future__ import annotations

import json
import os
import time

import pytest

from lab.core.errors import InputError
from lab.finetune import runner
from lab.finetune.config import RunConfig
from tests.helpers import pairs


def _until(pred, timeout=240.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError("timed out")


@pytest.mark.slow  # trains the tiny Llama in a background process
def test_background_lifecycle(tiny_dir, ft_settings):
    cfg = RunConfig(
        base_model=str(tiny_dir),
        max_steps=100_000,
        batch_size=4,
        train_size=24,
        learning_rate=1e-3,
        logging_steps=1,
        save_steps=100_000,
        max_seq_length=64,
    )
    run_dir = runner.launch(cfg, train=pairs(24))
    assert run_dir.parent == ft_settings.data_dir / "runs"
    assert (run_dir / "config.yaml").exists() and len((run_dir / "train.jsonl").read_text().splitlines()) == 24
    # live progress shows up while it runs (a page reload just reads these files again)
    rows = _until(lambda: len(runner.progress(run_dir)) >= 3 and runner.progress(run_dir))
    assert all("loss" in r and r["step"] >= 1 for r in rows[:3])
    assert runner.status(run_dir)["state"] == "running"
    # one run at a time
    with pytest.raises(InputError, match="one run trains at a time"):
        runner.launch(cfg, train=pairs(24))
    # a clean stop: a checkpoint at the current step, no final adapter
    runner.stop(run_dir)
    st = runner.wait(run_dir, timeout=120)
    assert st["state"] == "stopped" and not st["alive"]
    assert st["checkpoint"] and st["checkpoint"].endswith(f"checkpoint-{st['step']}")
    assert (run_dir / "checkpoints" / f"checkpoint-{st['step']}" / "adapter_model.safetensors").exists()
    assert st["peak_bytes"] > 50 * 2**20 and st["adapter"] is None
    stopped_at = st["step"]
    # resume continues from that checkpoint: same code path as the background process, run here to the end
    # (max_steps lowered so it finishes) - the step count goes on, and the final adapter is written
    from lab.finetune import trainer

    cfg.model_copy(update={"max_steps": stopped_at + 2}).save(run_dir / "config.yaml")
    assert runner.command(run_dir, resume=True)[-3:] == ["lab.finetune.trainer", str(run_dir), "--resume"]
    assert trainer.main([str(run_dir), "--resume"]) == 0  # what runner.resume() starts in the background
    st2 = runner.status(run_dir)
    assert st2["state"] == "finished" and st2["step"] == stopped_at + 2 and st2["resumed"] is True
    steps = [r["step"] for r in runner.progress(run_dir) if "loss" in r]
    assert steps[-2:] == [stopped_at + 1, stopped_at + 2]  # no step trained twice, none skipped
    assert runner.status(run_dir)["adapter"]
    listed = runner.list_runs()
    assert listed[0]["run_id"] == run_dir.name and listed[0]["state"] == "finished" and listed[0]["last_loss"]


def test_killed_run_reads_as_interrupted_and_can_resume(ft_settings):
    cfg = RunConfig(train_size=8, batch_size=2)
    run_dir = runner.prepare(cfg, train=pairs(8), check=False)
    runner.write_status(run_dir, state="running", pid=2**22 + 12345, step=7)  # a pid that does not exist
    (run_dir / "checkpoints" / "checkpoint-5").mkdir(parents=True)
    st = runner.status(run_dir)
    assert st["state"] == "interrupted" and st["checkpoint"].endswith("checkpoint-5")
    assert runner.active_run() is None
    runner.write_status(run_dir, state="finished")
    with pytest.raises(InputError, match="already finished"):
        runner.resume(run_dir)
    with pytest.raises(InputError, match="not a run folder"):
        runner.status("no-such-run")
    runner.write_status(run_dir, state="stopped")
    (run_dir / "checkpoints" / "checkpoint-5").rmdir()
    with pytest.raises(InputError, match="no checkpoint yet"):
        runner.resume(run_dir)


@pytest.mark.slow  # trains the tiny Llama, then evaluates it
def test_foreground_run_loss_falls_then_eval(tiny_dir, ft_settings):
    from lab.finetune.evaluate import evaluate

    cfg = RunConfig(
        base_model=str(tiny_dir),
        max_steps=8,
        batch_size=4,
        train_size=8,
        learning_rate=3e-3,
        lora_r=8,
        lora_alpha=16,
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
        logging_steps=2,
        save_steps=4,
        max_seq_length=64,
        warmup_ratio=0.0,
        lr_scheduler="constant",
        val_size=4,
        eval_steps=4,
    )
    rows = pairs(8)
    res = runner.run_foreground(cfg, train=rows, val=pairs(12)[8:])
    assert res["state"] == "finished" and res["steps"] == 8
    assert len(res["losses"]) == 4 and res["losses"][-1] < res["losses"][0]
    assert len(res["eval_losses"]) == 2
    assert res["run_dir"] and os.path.exists(os.path.join(res["run_dir"], "adapter", "adapter_config.json"))
    assert json.loads(open(os.path.join(res["run_dir"], "adapter", "adapter_config.json")).read())["r"] == 8
    r = evaluate(res["run_dir"], items=rows[:3])
    assert r["n"] == 3 and {"mae", "rmsle", "hit_rate", "colors"} <= r["base"].keys() <= r["adapter"].keys() | {
        "colors"
    }
    assert len(r["rows"]) == 3 and all("adapter_text" in x for x in r["rows"])


@pytest.mark.slow  # trains the tiny Llama in 4-bit (bitsandbytes)
def test_qlora_4bit_on_cpu(tiny_dir, ft_settings):
    cfg = RunConfig(
        base_model=str(tiny_dir),
        quantization="4bit",
        max_steps=3,
        batch_size=2,
        train_size=8,
        learning_rate=3e-3,
        logging_steps=1,
        max_seq_length=64,
    )
    res = runner.run_foreground(cfg, train=pairs(8))
    assert res["state"] == "finished" and len(res["losses"]) == 3
    assert all(loss == loss and loss > 0 for loss in res["losses"])  # finite, not NaN


@pytest.mark.slow
@pytest.mark.gpu
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")  # at run time
def test_qlora_on_cuda_plan_vs_measured(ft_settings):
    from lab.finetune.plan import plan

    cfg = RunConfig(
        quantization="4bit",
        optimizer="paged_adamw_32bit",
        max_steps=10,
        batch_size=8,
        logging_steps=1,
        lora_r=32,
        lora_alpha=64,
    )
    p = plan(cfg)
    res = runner.run_foreground(cfg)
    assert res["state"] == "finished" and res["losses"][-1] < res["losses"][0]
    print(
        f"QLoRA on CUDA: estimated {p.estimated_peak_bytes / 2**20:.0f} MiB, measured {res['peak_bytes'] / 2**20:.0f} MiB"
    )
    assert 0.25 < res["peak_bytes"] / p.estimated_peak_bytes < 4
