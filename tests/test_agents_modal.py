"""The Modal pricing service, offline: the generated app imports (no token, no network), and the body of its
class runs on this machine with a local LoRA adapter (a tiny Llama with SmolLM2's tokenizer, see
``test_finetune_tiny``), exactly as Modal would run it in a container."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from lab.agents import modal_service
from tests.helpers import tiny_model_dir


def load_source(path, name="generated_pricer_service"):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow  # builds the tiny Llama and a LoRA adapter (torch, transformers, peft)
def test_service_app_imports_and_its_method_body_prices_locally(tmp_path, monkeypatch):
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    base = tiny_model_dir(tmp_path)
    adapter = tmp_path / "adapter"
    lora = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"),
    )
    lora.save_pretrained(adapter)

    text = modal_service.source(base_model=str(base), adapter=str(adapter), gpu="T4")
    for part in (
        'APP_NAME = "lab-pricer-service"',
        "app = modal.App(APP_NAME)",
        "@modal.enter()",
        "@modal.method()",
        'modal.Volume.from_name("hf-hub-cache", create_if_missing=True)',
        '"peft==',
        "scaledown_window",
    ):
        assert part in text
    path = modal_service.write(text, tmp_path / "svc")
    mod = load_source(path)
    assert mod.app.name == "lab-pricer-service" and hasattr(mod, "Pricer")

    core = mod.PricerCore()
    core.load(device="cpu")  # BASE_MODEL and ADAPTER as generated: the local folders
    value = core.predict("Samsung 65 inch QLED 4K smart TV with HDR10+")
    assert isinstance(value, float) and value >= 0.0  # an untrained tiny model: any number, or 0.0 for none


def test_deploy_without_a_token_says_how_to_get_one(tmp_path, monkeypatch):
    import pytest

    from lab.core.errors import MissingKeyError

    monkeypatch.delenv("MODAL_TOKEN_ID", raising=False)
    monkeypatch.delenv("MODAL_TOKEN_SECRET", raising=False)
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(tmp_path / "none.toml"))
    import modal.config

    monkeypatch.setattr(modal.config, "config", {})
    with pytest.raises(MissingKeyError, match="MODAL_TOKEN_ID"):
        modal_service.deploy(tmp_path / "pricer_service.py")
