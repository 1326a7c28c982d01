"""RunConfig: bounds and cross-field checks with clear messages, YAML round trip, presets, and the translators."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from lab.core.errors import InputError
from lab.finetune.config import PRESETS, RunConfig
from lab.finetune.translate import bnb_config, check_device, lora_config, resolve_dtype, sft_config


def _msg(**kw) -> str:
    with pytest.raises(ValidationError) as e:
        RunConfig(**kw)
    return str(e.value)


def test_bad_hyperparameters_are_refused_with_the_fix():
    assert "alpha/r = 0" in _msg(lora_alpha=0) and "2 x r" in _msg(lora_alpha=0)
    msg = _msg(batch_size=64, train_size=32)
    assert "larger than the training data (32 items)" in msg and "lower batch_size" in msg
    assert "no loss would ever be recorded" in _msg(max_steps=5, logging_steps=10)
    assert "at least one target module" in _msg(target_modules=[" "])
    assert "not layer names" in _msg(target_modules=["q_proj; rm -rf"])
    assert "greater than or equal to 1" in _msg(lora_r=0)
    assert "less than or equal to 0.5" in _msg(lora_dropout=0.9)
    assert "Extra inputs" in _msg(lora_rank=8)  # a typo is refused, not ignored


def test_every_field_has_a_description_for_the_form():
    assert all(f.description and len(f.description) > 20 for f in RunConfig.model_fields.values())


def test_yaml_round_trip_and_errors(tmp_path):
    cfg = RunConfig(lora_r=16, lora_alpha=32, target_modules=["q_proj", "k_proj"], learning_rate=1e-4)
    path = cfg.save(tmp_path / "run.yaml")
    assert "lora_r: 16" in path.read_text()
    assert RunConfig.from_yaml(path) == cfg == RunConfig.from_file(str(path)) == RunConfig.from_yaml(cfg.to_yaml())
    assert RunConfig.from_yaml_text(path.read_bytes()) == cfg
    with pytest.raises(InputError, match="not found"):
        RunConfig.from_file(str(tmp_path / "missing.yaml"))
    with pytest.raises(InputError, match="mapping"):
        RunConfig.from_yaml("- just\n- a list\n")


SECRET = "sk-config-secret-0123456789abcdef"


def test_yaml_text_is_content_never_a_path(tmp_path, monkeypatch):
    """The page's upload once opened a one-line '...yaml' content as a server path and echoed that file's values."""
    secret_file = tmp_path / "server-secrets.yaml"
    secret_file.write_text(f"lora_r: 8\napi_key: {SECRET}\n")
    monkeypatch.chdir(tmp_path)
    for content in (str(secret_file), str(secret_file) + "\n", secret_file.name, "~/x.yml"):
        for data in (content, content.encode()):
            with pytest.raises(InputError, match="not a run config") as e:
                RunConfig.from_yaml_text(data)
            assert SECRET not in str(e.value) and "api_key" not in str(e.value)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"# only a comment\n", "empty"),
        (bytes(range(256)), "not UTF-8"),
        (b"lora_r: 8\x00", "binary"),
        (b"lora_r: [8,\n\tlora_alpha: : :\n", "not valid YAML at line"),
        (b"42", "not a single value|not a run config"),
        (b"- a\n- b\n", "not a list|mapping"),
        (b"1: 2\n", "field names must be words"),
        (b"a" * 70_000, "at most"),
        (b"[" * 5000, "nested too deeply|not valid YAML"),
    ],
)
def test_malformed_yaml_is_one_input_error(data, match):
    with pytest.raises(InputError, match=match):
        RunConfig.from_yaml_text(data)


def test_validation_errors_name_field_and_rule_never_values():
    bad = f"lora_r: {SECRET}\napi_key: {SECRET}\npasword: {SECRET}\nlora_alpha: 0\ntarget_modules: ['{SECRET}!']\n"
    with pytest.raises(InputError) as e:
        RunConfig.from_yaml_text(bad, source="the uploaded YAML")
    msg = str(e.value)
    assert SECRET not in msg
    assert msg.startswith("the uploaded YAML is not a valid run config: ")
    assert "lora_r: Input should be a valid integer" in msg
    assert "api_key: not a run config field" in msg
    assert "pasword: not a run config field" in msg
    # the bad layer name is counted, not repeated
    assert "target_modules" in msg and "1 of the entries are not layer names" in msg
    # pydantic's own text hides the input too, wherever a ValidationError is printed
    with pytest.raises(ValidationError) as e2:
        RunConfig(lora_r=SECRET)
    assert SECRET not in str(e2.value)


def test_a_typo_suggests_the_field():
    with pytest.raises(InputError, match=r"lora_rank: not a run config field \(did you mean lora_r"):
        RunConfig.from_yaml_text("lora_rank: 8\n")


def test_config_file_paths_are_checked(tmp_path):
    for path, match in (
        (tmp_path, "is a folder"),
        ("/dev/null", "not a regular file"),
        (tmp_path / "nope.yaml", "not found"),
    ):
        with pytest.raises(InputError, match=match):
            RunConfig.from_file(path)
    big = tmp_path / "big.yaml"
    big.write_bytes(b"#" * 100_000)
    with pytest.raises(InputError, match="small YAML file"):
        RunConfig.from_file(big)


def test_presets_are_the_course_settings():
    lite, full = RunConfig.preset("lite"), RunConfig.preset("full")
    assert (lite.lora_r, lite.lora_alpha, lite.batch_size, lite.epochs) == (32, 64, 32, 1)
    assert lite.target_modules == ["q_proj", "v_proj", "k_proj", "o_proj"]
    assert (full.lora_r, full.lora_alpha, full.batch_size, full.epochs) == (256, 512, 256, 3)
    assert set(full.target_modules) == {"q_proj", "v_proj", "k_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}
    for p in (lite, full):
        assert (p.quantization, p.optimizer, p.lr_scheduler, p.learning_rate) == (
            "4bit",
            "paged_adamw_32bit",
            "cosine",
            1e-4,
        )
        assert p.base_model == "smollm2" and p.max_steps == 0
    assert RunConfig.preset("lite", lora_r=8).lora_r == 8
    with pytest.raises(InputError, match="unknown preset"):
        RunConfig.preset("huge")
    assert set(PRESETS) == {"lite", "full"}


@pytest.mark.slow  # imports peft (and torch)
def test_lora_config_translation():
    lc = lora_config(RunConfig(lora_r=32, lora_alpha=64, lora_dropout=0.1, target_modules=["q_proj", "o_proj"]))
    assert (lc.r, lc.lora_alpha, lc.lora_dropout, lc.bias) == (32, 64, 0.1, "none")
    assert (
        set(lc.target_modules) == {"q_proj", "o_proj"}
        and str(getattr(lc.task_type, "value", lc.task_type)) == "CAUSAL_LM"
    )


@pytest.mark.slow  # imports torch
def test_bitsandbytes_translation():
    import torch

    assert bnb_config(RunConfig()) is None
    q4 = bnb_config(RunConfig(quantization="4bit"))
    assert q4.load_in_4bit and not q4.load_in_8bit
    assert (q4.bnb_4bit_quant_type, q4.bnb_4bit_use_double_quant, q4.bnb_4bit_compute_dtype) == (
        "nf4",
        True,
        torch.bfloat16,
    )
    q8 = bnb_config(RunConfig(quantization="8bit"))
    assert q8.load_in_8bit and not q8.load_in_4bit


@pytest.mark.slow  # imports trl (and torch, transformers)
def test_sft_config_translation(tmp_path):
    cfg = RunConfig(
        epochs=2,
        max_steps=0,
        batch_size=8,
        grad_accum=4,
        train_size=100,
        learning_rate=1e-4,
        lr_scheduler="linear",
        warmup_ratio=0.05,
        max_seq_length=96,
        weight_decay=0.01,
        max_grad_norm=0.5,
        logging_steps=3,
        save_steps=7,
        eval_steps=9,
        seed=7,
    )
    s = sft_config(cfg, tmp_path, device="cpu", has_eval=True)
    assert s.completion_only_loss is True and s.max_length == 96
    assert (s.num_train_epochs, s.max_steps, s.per_device_train_batch_size, s.gradient_accumulation_steps) == (
        2,
        -1,
        8,
        4,
    )
    assert (s.learning_rate, str(s.lr_scheduler_type.value), s.weight_decay, s.max_grad_norm) == (
        1e-4,
        "linear",
        0.01,
        0.5,
    )
    assert s.warmup_steps == 0.05  # transformers 5: a float below 1 is a ratio of the total steps
    assert (s.logging_steps, s.save_steps, s.eval_steps, s.seed) == (3, 7, 9, 7)
    assert str(s.eval_strategy.value) == "steps" and s.use_cpu and not s.bf16 and s.report_to == []
    assert str(s.optim.value) == "adamw_torch"
    assert sft_config(RunConfig(max_steps=20), tmp_path).max_steps == 20
    assert str(sft_config(RunConfig(), tmp_path).eval_strategy.value) == "no"


@pytest.mark.slow  # imports torch (and trl)
def test_device_rules():
    with pytest.raises(InputError, match="needs CUDA"):
        check_device(RunConfig(optimizer="paged_adamw_32bit"), "cpu")
    with pytest.raises(InputError, match="needs CUDA"):
        sft_config(RunConfig.preset("lite"), "/tmp/x", device="cpu")
    check_device(RunConfig(optimizer="paged_adamw_32bit"), "cuda")  # fine on a GPU (Modal)
    assert resolve_dtype(RunConfig(), "cpu") == "float32"
    assert resolve_dtype(RunConfig(quantization="4bit"), "cpu") == "bfloat16"
    assert resolve_dtype(RunConfig(dtype="bfloat16"), "cpu") == "bfloat16"


def test_modal_app_defines_offline(tmp_path, monkeypatch):
    import importlib.util

    import modal

    from lab.finetune import modal_app

    for var in ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET"):
        monkeypatch.delenv(var, raising=False)
    src = modal_app.source(RunConfig(lora_r=16, lora_alpha=32), gpu="A10G", secrets=["huggingface-secret"])
    assert 'GPU = "A10G"' in src and "lora_r: 16" in src and "HuggingFaceTB/SmolLM2-135M-Instruct" in src
    assert '"trl==1.16.0"' in src and '"torch==2.13.0"' in src  # pinned, CPU tag dropped
    assert 'modal.Secret.from_name("huggingface-secret")' in src
    run_dir = tmp_path / "20260101-000000-abcd"
    run_dir.mkdir()
    (run_dir / "modal_app.py").write_text(src)
    spec = importlib.util.spec_from_file_location("generated_modal_app", run_dir / "modal_app.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # defines the app and its function: no network, no token
    assert isinstance(mod.app, modal.App) and mod.app.name == "lab-finetune"
    assert isinstance(mod.train, modal.Function) and mod.RUN_ID == run_dir.name
    assert RunConfig.from_yaml(mod.CONFIG_YAML).lora_r == 16
    with pytest.raises(InputError, match="not one of"):
        modal_app.source(RunConfig(), gpu="TPU")
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.modal.toml either
    if not modal_app.token_configured():
        from lab.core.errors import MissingKeyError

        with pytest.raises(MissingKeyError, match="modal token new"):
            modal_app.launch(run_dir / "modal_app.py")
