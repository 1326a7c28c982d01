"""Image generation with diffusers: a prompt in, a PNG out, one progress report per denoising step.

A diffusion model starts from random noise and removes a little of it per step, steered by the prompt; the
number of steps is the main cost (one UNet pass each, two with classifier-free guidance).

    >>> r = generate("a watercolour fox", DiffusionOptions(steps=1, seed=0))   # doctest: +SKIP (Hub)
    >>> r.image.size, r.model
    ((512, 512), 'stabilityai/sd-turbo')
    >>> r = generate("anything", DiffusionOptions(steps=4, seed=0), tiny=True,
    ...              on_step=lambda i, n: print(f"{i}/{n}"))                  # offline: untrained
    1/4
    2/4
    3/4
    4/4
    >>> r.untrained, r.image.size
    (True, (32, 32))

Default models, chosen for the hardware (the course ran ``stabilityai/stable-diffusion-2`` on a Colab T4 with
25-50 steps):
- CPU (a free Hugging Face Space: 2 vCPU, 16 GB): ``stabilityai/sd-turbo``, SD 2.1 distilled by adversarial
  diffusion distillation to make a 512x512 image in 1-4 steps *without* guidance (guidance 0: one UNet pass
  per step, not two). That is ~50x less compute than SD 2 at 50 guided steps, so one image takes tens of
  seconds instead of tens of minutes; fp32 weights need ~5 GB of RAM, which fits.
- CUDA GPU: ``stabilityai/sdxl-turbo`` in fp16 (half the memory of fp32; tensor cores), same 1-4 steps.

Offline (no Hub) there are no diffusion weights anywhere on PyPI, so ``tiny=True`` builds a tiny *untrained*
``UNet2DModel`` with a ``DDPMScheduler``, saves it as a ``DDPMPipeline`` and loads it back through the same
``DiffusionPipeline.from_pretrained`` call: the loop and the callback run for real, the image is noise, and
it ignores the prompt (an unconditional model). Every result from it says so.
"""

from __future__ import annotations

import inspect
import io
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from pydantic import BaseModel, Field

from lab.core.device import device
from lab.core.errors import InputError
from lab.core.hub import hub_cache_dir, hub_reachable
from lab.core.settings import get_settings
from lab.pipelines.tasks import HubUnreachable

DEFAULT_MODELS = {"cpu": "stabilityai/sd-turbo", "cuda": "stabilityai/sdxl-turbo"}
UNTRAINED_NOTE = (
    "TINY UNTRAINED MODEL: a random UNet that ignores the prompt; this image is noise that shows "
    "the denoising loop running, not a generated picture."
)
TINY_SIZE = 32  # pixels: the tiny UNet's sample size


class DiffusionOptions(BaseModel):
    """Generation settings; the descriptions are the page's help texts."""

    model_config = {"extra": "forbid"}

    steps: int = Field(
        2,
        ge=1,
        le=100,
        description="Denoising steps: each is one UNet pass (two with guidance). Turbo models need 1-4; classic Stable Diffusion 25-50.",
    )
    guidance: float = Field(
        0.0,
        ge=0.0,
        le=20.0,
        description="Classifier-free guidance: how hard to push towards the prompt (and away from the negative prompt). Turbo models are trained for 0; SD 2 likes ~7.5. Above 1 each step costs two UNet passes.",
    )
    seed: int | None = Field(
        0,
        ge=0,
        le=2**32 - 1,
        description="Starting noise: the same seed, prompt and settings give the same image. Empty = a new image each time.",
    )
    width: int = Field(
        512,
        ge=64,
        le=1024,
        multiple_of=8,
        description="Image width in pixels (multiple of 8: the VAE shrinks images 8x). Time grows with the pixel count.",
    )
    height: int = Field(512, ge=64, le=1024, multiple_of=8, description="Image height in pixels (multiple of 8).")
    negative_prompt: str = Field(
        "", max_length=1000, description="What the image should not show. Used only when guidance > 1."
    )


def default_model() -> str:
    return DEFAULT_MODELS[device()]


@dataclass
class ImageResult:
    image: Any  # PIL.Image.Image
    png: bytes
    model: str
    untrained: bool
    note: str
    device: str
    steps_done: int
    seconds: float
    load_s: float

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("image", "png")} | {
            "width": self.image.size[0],
            "height": self.image.size[1],
            "png_bytes": len(self.png),
        }


# ---------------------------------------------------------------------------------------------- loading
@dataclass
class _Loaded:
    pipe: Any
    load_s: float
    lock: threading.Lock  # a pipeline's scheduler keeps per-run state: one generation at a time


MAX_CACHED = 2  # diffusion pipelines are GBs: keep the two most recently used
_CACHE: OrderedDict[tuple, _Loaded] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_TINY_LOCK = threading.Lock()


def tiny_dir() -> Path:
    return get_settings().data_dir / "tiny-models" / "ddpm"


def build_tiny(folder: Path | None = None) -> Path:
    """Save a tiny random DDPMPipeline (UNet2DModel 32x32, 0.65M parameters + DDPMScheduler) with save_pretrained."""
    folder = Path(folder or tiny_dir())
    with _TINY_LOCK:
        if (folder / ".complete").exists():
            return folder
        import torch
        from diffusers import DDPMPipeline, DDPMScheduler, UNet2DModel

        torch.manual_seed(0)
        unet = UNet2DModel(
            sample_size=TINY_SIZE,
            in_channels=3,
            out_channels=3,
            layers_per_block=1,
            block_out_channels=(32, 64),
            down_block_types=("DownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "UpBlock2D"),
        )
        DDPMPipeline(unet=unet, scheduler=DDPMScheduler(num_train_timesteps=1000)).save_pretrained(folder)
        (folder / "README.md").write_text(
            "Tiny UNTRAINED DDPM pipeline (random weights) made by lab.pipelines.diffusion.\n"
        )
        (folder / ".complete").touch()
        return folder


def load(model: str | None = None, *, tiny: bool = False) -> tuple[_Loaded, str]:
    """``DiffusionPipeline.from_pretrained`` once per (model, device); fp16 on a GPU, fp32 on a CPU."""
    dev = device()
    ref = str(build_tiny()) if tiny else _available((model or "").strip() or DEFAULT_MODELS[dev])
    key = (ref, dev)
    with _CACHE_LOCK:
        if key not in _CACHE:
            import torch
            from diffusers import DiffusionPipeline

            t0 = time.perf_counter()
            try:
                pipe = DiffusionPipeline.from_pretrained(ref, dtype=torch.float16 if dev == "cuda" else torch.float32)
            except Exception as e:  # noqa: BLE001 - not a pipeline folder (/etc), a wrong id, damaged files
                reason = " ".join(str(e).split())[:300] or type(e).__name__
                raise InputError(
                    f"Could not load the diffusion pipeline {ref!r}: {reason.rstrip('.')}. Give a Hub "
                    "id (for example stabilityai/sd-turbo) or a folder saved by diffusers "
                    "(model_index.json and its parts)."
                ) from e
            pipe = pipe.to(dev)
            pipe.set_progress_bar_config(disable=True)  # progress goes through on_step instead
            _CACHE[key] = _Loaded(pipe, time.perf_counter() - t0, threading.Lock())
            while len(_CACHE) > MAX_CACHED:
                _CACHE.popitem(last=False)
        _CACHE.move_to_end(key)
        return _CACHE[key], ref


def _available(ref: str) -> str:
    if Path(ref).is_dir():
        if not (Path(ref) / "model_index.json").is_file():  # said at once, not after importing diffusers
            raise InputError(
                f"The folder {ref} holds no diffusers pipeline (no model_index.json). Give a folder "
                "saved with save_pretrained, or a Hub id such as stabilityai/sd-turbo."
            )
        return ref
    if _cached(ref) or hub_reachable():
        return ref
    raise HubUnreachable(
        f"The Hugging Face Hub is unreachable (offline mode or no network) and {ref} is not in the local "
        f"cache, and no diffusion weights ship with the lab. Fix: run where the Hub is reachable (unset "
        f"HF_HUB_OFFLINE), give a local pipeline folder, or use the tiny untrained model (--tiny / the "
        f"page's checkbox) to watch the denoising loop on random weights."
    )


def describe(model: str | None = None, *, tiny: bool = False) -> tuple[bool, str]:
    """One line for the page before anything loads: (can run, where the model comes from / the fix)."""
    if tiny:
        return True, UNTRAINED_NOTE
    try:
        ref = _available((model or "").strip() or default_model())
    except (HubUnreachable, InputError) as e:  # unreachable, or a folder that holds no pipeline
        return False, str(e)
    return True, f"{ref}: {'local folder' if Path(ref).is_dir() else 'Hugging Face cache ' + hub_cache_dir()}."


def _cached(model_id: str) -> bool:
    from huggingface_hub import try_to_load_from_cache

    try:
        return isinstance(try_to_load_from_cache(model_id, "model_index.json"), str)
    except Exception:
        return False


# ---------------------------------------------------------------------------------------------- generating
def generate(
    prompt: str,
    options: DiffusionOptions | None = None,
    *,
    model: str | None = None,
    tiny: bool = False,
    on_step: Callable[[int, int], None] | None = None,
) -> ImageResult:
    """One image. ``on_step(done, total)`` is called once after each denoising step."""
    opts = options or DiffusionOptions()
    prompt = (prompt or "").strip()
    if not prompt and not tiny:
        raise InputError("Describe the image you want (for example: 'a watercolour fox in the snow').")
    loaded, ref = load(model, tiny=tiny)
    pipe, dev = loaded.pipe, device()
    import torch

    # A CPU generator makes the same seed give the same starting noise on CPU and GPU (diffusers' advice).
    generator = torch.Generator("cpu").manual_seed(opts.seed) if opts.seed is not None else None
    done = [0]

    def step_done(total: int) -> None:
        done[0] += 1
        if on_step:
            on_step(done[0], total)

    t0 = time.perf_counter()
    with loaded.lock:
        if "prompt" in inspect.signature(pipe.__call__).parameters:  # text-to-image pipelines

            def on_step_end(_pipe, _step, _timestep, callback_kwargs):
                step_done(opts.steps)
                return callback_kwargs

            extra = {"negative_prompt": opts.negative_prompt} if opts.negative_prompt and opts.guidance > 1 else {}
            image = pipe(
                prompt=prompt,
                num_inference_steps=opts.steps,
                guidance_scale=opts.guidance,
                width=opts.width,
                height=opts.height,
                generator=generator,
                callback_on_step_end=on_step_end,
                **extra,
            ).images[0]
        else:
            # Unconditional pipelines (DDPMPipeline) take no callback_on_step_end; they call the UNet exactly once
            # per step, so a forward hook on the UNet reports the same thing.
            hook = pipe.unet.register_forward_hook(lambda *_: step_done(opts.steps))
            try:
                image = pipe(batch_size=1, generator=generator, num_inference_steps=opts.steps).images[0]
            finally:
                hook.remove()
    seconds = time.perf_counter() - t0
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    note = UNTRAINED_NOTE if tiny else f"{ref} on {dev}; files in {ref if Path(ref).is_dir() else hub_cache_dir()}."
    return ImageResult(
        image,
        buf.getvalue(),
        "tiny untrained DDPM" if tiny else ref,
        tiny,
        note,
        dev,
        done[0],
        round(seconds, 3),
        round(loaded.load_s, 3),
    )
