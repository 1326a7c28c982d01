"""The CLI contract, checked from outside: plan --json, run --json, eval --json, modal --print."""

from __future__ import annotations

import json

import pytest
import yaml

from lab.cli import main
from tests.helpers import pairs


def _json(capsys, argv) -> dict:
    assert main(argv) == 0
    return json.loads(capsys.readouterr().out)


@pytest.mark.slow  # trains the tiny Llama, then evaluates it
def test_cli_plan_run_eval_modal(tiny_dir, ft_settings, tmp_path, capsys, monkeypatch):
    cfg_path = tmp_path / "tiny.yaml"
    cfg_path.write_text(
        yaml.safe_dump(
            {
                "base_model": str(tiny_dir),
                "batch_size": 2,
                "train_size": 6,
                "logging_steps": 1,
                "learning_rate": 0.003,
                "max_steps": 50,
            }
        )
    )
    plan = _json(capsys, ["finetune", "plan", "--config", str(cfg_path), "--json", "--device", "cpu"])
    assert plan["trainable_params"] == 3_584 and plan["total_params"] > plan["trainable_params"]
    assert plan["estimated_peak_bytes"] > plan["weights_bytes"] > 0

    # the pricer's real prompt/completion pairs, tiny model, 3 steps
    out = _json(capsys, ["finetune", "run", "--config", str(cfg_path), "--max-steps", "3", "--json"])
    assert set(out) >= {"run_dir", "losses", "steps", "peak_bytes"}
    assert out["steps"] == 3 and len(out["losses"]) == 3 and out["peak_bytes"] > 0

    monkeypatch.setattr("lab.pricer.data.prompt_completion", lambda split="train", n=None, seed=42: pairs(n or 4)[:n])
    ev = _json(capsys, ["finetune", "eval", out["run_dir"], "--n", "2", "--json"])
    assert ev["n"] == 2 and {"mae", "rmsle", "hit_rate"} <= ev["adapter"].keys() & ev["base"].keys()

    assert main(["finetune", "modal", "--config", str(cfg_path), "--print"]) == 0
    src = capsys.readouterr().out
    assert "@app.function(image=image, gpu=GPU" in src and "batch_size: 2" in src

    # bad input: one clear line, exit code 2
    bad = tmp_path / "bad.yaml"
    bad.write_text("lora_alpha: 0\n")
    assert main(["finetune", "plan", "--config", str(bad)]) == 2
    assert "alpha/r = 0" in capsys.readouterr().err
    assert main(["finetune", "plan", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "not found" in capsys.readouterr().err
