"""The memory plan against numbers worked by hand, and SmolLM2's exact LoRA count from peft."""

from __future__ import annotations

import json

import pytest

from lab.core.errors import InputError
from lab.finetune.config import RunConfig
from lab.finetune.plan import CPU_RUNTIME_BYTES, NF4_DOUBLE_QUANT_BYTES, human, plan

pytestmark = pytest.mark.slow  # plan() builds the model on torch's meta device (imports torch)

# The tiny config (tests/test_finetune_tiny.py) with a 1000-token vocabulary; only config.json is needed: the plan
# builds the model on the meta device and never reads weights.
TINY_CFG = dict(
    model_type="llama",
    architectures=["LlamaForCausalLM"],
    vocab_size=1000,
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
    tie_word_embeddings=True,
)


@pytest.fixture
def tiny_cfg_dir(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(TINY_CFG))
    return str(tmp_path)


def test_plan_by_hand(tiny_cfg_dir):
    cfg = RunConfig(
        base_model=tiny_cfg_dir,
        lora_r=4,
        lora_alpha=8,
        target_modules=["q_proj", "v_proj"],
        batch_size=2,
        max_seq_length=16,
        train_size=10,
    )
    p = plan(cfg, device="cpu", device_bytes=8 * 2**30)
    # linear layers per block: q 64x64 + k 64x32 + v 64x32 + o 64x64 + gate/up/down 3 x 64x128 = 36,864; x2 blocks
    assert p.quantized_params == 0
    linear = 2 * (4096 + 2048 + 2048 + 4096 + 3 * 8192)
    assert linear == 73_728
    base = linear + 1000 * 64 + (2 * 2 + 1) * 64  # + tied embedding + 5 RMSNorm weights = 138,048
    # LoRA r=4: q 4*(64+64) = 512, v 4*(64+32) = 384, per block, x2 = 1,792
    assert p.trainable_params == 1_792
    assert p.total_params == base + 1_792 == 139_840
    assert p.weights_bytes == 4 * base  # fp32 on CPU
    assert (p.adapter_bytes, p.gradient_bytes, p.optimizer_bytes) == (7_168, 7_168, 14_336)  # 4, 4, 8 bytes each
    # activations: 2 x 16 tokens x 2 layers x (10*64 + 4*128 = 1,152) numbers x 4 bytes
    assert p.activation_bytes == 32 * 2 * 1_152 * 4 == 294_912
    assert p.runtime_bytes == CPU_RUNTIME_BYTES
    assert p.estimated_peak_bytes == 552_192 + 7_168 + 7_168 + 14_336 + 294_912 + CPU_RUNTIME_BYTES
    assert p.fits and abs(p.trainable_share - 1_792 / 139_840) < 1e-12
    assert p.target_choices == ["down_proj", "gate_proj", "k_proj", "o_proj", "q_proj", "up_proj", "v_proj"]
    d = p.to_dict()
    assert {"trainable_params", "total_params", "estimated_peak_bytes", "fits"} <= d.keys()


def test_plan_4bit_checkpointing_and_not_fitting(tiny_cfg_dir):
    cfg = RunConfig(
        base_model=tiny_cfg_dir,
        quantization="4bit",
        lora_r=4,
        lora_alpha=8,
        batch_size=2,
        max_seq_length=16,
        train_size=10,
        gradient_checkpointing=True,
        optimizer="sgd",
    )
    p = plan(cfg, device="cpu", device_bytes=100 * 2**20)
    assert NF4_DOUBLE_QUANT_BYTES == 0.5 + 1 / 64 + 4 / 16384
    # linear weights: 73,728 x (0.5 + 1/64 + 1/4096) = 36,864 + 1,152 + 18 = 38,034; the rest in bf16: 64,320 x 2
    assert p.weights_bytes == 38_034 + 64_320 * 2 and p.dtype == "bfloat16"
    # checkpointing keeps each layer's input (2 x 64) plus one layer's worth (1,152), per token, in bf16
    assert p.activation_bytes == 32 * (2 * 64 + 1_152) * 2
    assert p.optimizer_bytes == 0  # plain SGD keeps no state
    assert not p.fits and any("does NOT fit" in n.replace("Does", "does") for n in p.notes)


def test_plan_names_the_real_layers_when_a_target_is_wrong(tiny_cfg_dir):
    with pytest.raises(InputError, match=r"\['qkv'\] are not linear layers.*'q_proj'"):
        plan(RunConfig(base_model=tiny_cfg_dir, target_modules=["q_proj", "qkv"]), device="cpu")
    with pytest.raises(InputError, match="Hub id needs network"):
        plan(RunConfig(base_model="nobody/not-a-model-xyz"), device="cpu")


def test_smollm2_exact_lora_count():
    p = plan(RunConfig(), device="cpu", device_bytes=16 * 2**30)  # r=8 on q_proj, v_proj
    assert p.trainable_params == 30 * (8 * (576 + 576) + 8 * (576 + 192)) == 460_800
    assert p.total_params == 134_515_008 + 460_800
    assert p.weights_bytes == 134_515_008 * 4
    assert human(p.weights_bytes) == "513.1 MiB"
