"""Diffusion: a tiny untrained pipeline saved, reloaded and run; one progress report per denoising step.

Two tiny pipelines, both from configs with random weights: the lab's own ``DDPMPipeline`` (its offline
mode, progress through a UNet forward hook) and, here only, a tiny ``StableDiffusionPipeline`` so that the
text-to-image branch (prompt, negative prompt, guidance, size, ``callback_on_step_end``) runs too.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from lab.core import assets
from lab.core.errors import InputError
from lab.pipelines import diffusion

ROOT = Path(__file__).resolve().parent.parent
PNG = b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow  # builds and runs a tiny DDPM pipeline (torch, diffusers)
def test_tiny_ddpm_is_saved_reloaded_and_reports_each_step(lab_data):
    folder = diffusion.build_tiny()
    assert folder == lab_data / "tiny-models" / "ddpm"
    assert {"model_index.json", "unet", "scheduler"} <= {p.name for p in folder.iterdir()}
    steps = []
    r = diffusion.generate(
        "ignored by an unconditional model",
        diffusion.DiffusionOptions(steps=4, seed=7),
        tiny=True,
        on_step=lambda i, n: steps.append((i, n)),
    )
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)] and r.steps_done == 4
    assert r.png.startswith(PNG) and r.image.size == (32, 32)
    assert r.untrained and "UNTRAINED" in r.note and r.to_dict()["png_bytes"] == len(r.png)
    again = diffusion.generate("x", diffusion.DiffusionOptions(steps=2, seed=7), tiny=True)
    same = diffusion.generate("y", diffusion.DiffusionOptions(steps=2, seed=7), tiny=True)
    other = diffusion.generate("x", diffusion.DiffusionOptions(steps=2, seed=8), tiny=True)
    assert again.png == same.png != other.png  # the seed fixes the starting noise; the prompt is ignored


@pytest.mark.slow  # imports torch (diffusion.load asks pipelines.device() first)
def test_offline_hub_model_is_refused_with_the_fix():
    with pytest.raises(diffusion.HubUnreachable) as e:
        diffusion.generate("a fox", diffusion.DiffusionOptions(steps=1))
    assert diffusion.default_model() in str(e.value) and "--tiny" in str(e.value)
    ok, line = diffusion.describe()
    assert not ok and "unreachable" in line
    assert diffusion.describe(tiny=True)[0]


@pytest.mark.slow  # imports torch
def test_defaults_per_device_and_option_bounds():
    import torch

    assert diffusion.default_model() == (
        "stabilityai/sdxl-turbo" if torch.cuda.is_available() else "stabilityai/sd-turbo"
    )
    with pytest.raises(ValidationError):
        diffusion.DiffusionOptions(width=500)  # not a multiple of 8
    with pytest.raises(ValidationError):
        diffusion.DiffusionOptions(steps=0)
    with pytest.raises(InputError, match="Describe the image"):
        diffusion.generate("  ", tiny=False)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    """A tiny StableDiffusionPipeline (random UNet, VAE, CLIP text encoder; MiniLM's tokenizer), saved to a folder."""
    if assets.minilm_dir() is None:
        pytest.skip("MiniLM asset missing")
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import AutoTokenizer, CLIPTextConfig, CLIPTextModel

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(assets.minilm_dir()), model_max_length=77)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=16,
        norm_num_groups=4,
        attention_head_dim=2,
    )
    vae = AutoencoderKL(
        block_out_channels=(8, 16),
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=4,
    )
    text = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tok),
            hidden_size=16,
            intermediate_size=32,
            num_hidden_layers=1,
            num_attention_heads=2,
            max_position_embeddings=77,
            eos_token_id=tok.sep_token_id,
            pad_token_id=tok.pad_token_id,
            bos_token_id=tok.cls_token_id,
        )
    )
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tok,
        unet=unet,
        scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    folder = tmp_path_factory.mktemp("tiny-sd")
    pipe.save_pretrained(folder)
    return folder


@pytest.mark.slow  # the tiny_sd fixture: a tiny StableDiffusionPipeline (torch, diffusers, transformers)
def test_text_to_image_branch_calls_back_once_per_step(tiny_sd):
    steps = []
    opts = diffusion.DiffusionOptions(steps=3, seed=1, guidance=5.0, width=64, height=72, negative_prompt="blurry")
    r = diffusion.generate("a red square", opts, model=str(tiny_sd), on_step=lambda i, n: steps.append((i, n)))
    assert steps == [(1, 3), (2, 3), (3, 3)]
    assert r.image.size == (64, 72) and r.png.startswith(PNG) and not r.untrained and r.model == str(tiny_sd)


@pytest.mark.slow  # a fresh interpreter runs the tiny DDPM (torch, diffusers)
def test_cli_diffuse_writes_a_png(tmp_path):
    out = tmp_path / "noise.png"
    env = os.environ | {"LAB_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run(
        [sys.executable, "-m", "lab", "diffuse", "--tiny", "--steps", "3", "--seed", "1", "--out", str(out), "a fox"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stderr
    assert out.read_bytes().startswith(PNG) and "UNTRAINED" in res.stdout
    assert [line for line in res.stderr.splitlines() if line.startswith("step ")] == [
        "step 1/3",
        "step 2/3",
        "step 3/3",
    ]


@pytest.mark.slow  # imports torch (diffusion.load asks pipelines.device() first)
def test_cli_diffuse_offline_names_the_model_and_the_fix(tmp_path, capsys):
    from lab.cli import main

    assert main(["diffuse", "--out", str(tmp_path / "x.png"), "a fox"]) == 2
    err = capsys.readouterr().err
    assert diffusion.default_model() in err and "--tiny" in err and not (tmp_path / "x.png").exists()


@pytest.mark.gpu
@pytest.mark.slow
@pytest.mark.skipif("not __import__('torch').cuda.is_available()", reason="needs a CUDA GPU")  # at run time
def test_tiny_ddpm_on_cuda_in_fp16(lab_data):
    import torch

    steps = []
    r = diffusion.generate(
        "x", diffusion.DiffusionOptions(steps=10, seed=0), tiny=True, on_step=lambda i, n: steps.append(i)
    )
    loaded, _ = diffusion.load(tiny=True)
    assert r.device == "cuda" and loaded.pipe.unet.dtype == torch.float16
    assert steps == list(range(1, 11)) and r.png.startswith(PNG)
    print(f"tiny DDPM on CUDA: 10 steps in {r.seconds:.3f} s, load {r.load_s:.2f} s")
