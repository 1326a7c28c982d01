"""Convert, quantize, measure: llama.cpp's converter from the sdist, llama_model_quantize, perplexity, the ladder.

The SmolLM2 F16 conversion is made once per session (about 10-30 s); the merge and bad-input tests use a tiny
Llama built from a config (2 layers, hidden 64) with SmolLM2's tokenizer, so the converter accepts it.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from lab.core.errors import InputError, ProviderUnavailable

ROOT = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------- fixtures
@pytest.fixture(scope="session")
def script() -> Path:
    """llama.cpp's converter for the installed llama-cpp-python (extracted from a local sdist, never downloaded)."""
    from lab.gguf.sdist import converter_script

    try:
        return converter_script(download=False)
    except ProviderUnavailable as e:
        pytest.skip(f"llama.cpp's converter is not prepared on this machine: {e}")


@pytest.fixture(scope="session")
def smol_hf() -> Path:
    from lab.core import assets

    if assets.smollm2_gguf() is None:
        pytest.skip(assets.fix_for("smollm2-gguf"))
    return assets.smollm2_hf_dir()


@pytest.fixture(scope="session")
def smol_f16(tmp_path_factory, script, smol_hf) -> Path:
    """SmolLM2 converted to F16 once for the whole session."""
    from lab.gguf.convert import convert

    out = tmp_path_factory.mktemp("f16") / "smollm2-F16.gguf"
    r = convert(smol_hf, out, "f16", script=script)
    assert r.architecture == "LlamaForCausalLM" and r.n_tensors == 272
    assert r.chat_template and "<|im_start|>" in r.chat_template  # the chat template carried over
    return out


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, smol_hf) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    d = tmp_path_factory.mktemp("tiny") / "tiny-llama"
    tok = AutoTokenizer.from_pretrained(smol_hf)
    cfg = LlamaConfig(
        vocab_size=49152,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=256,
        tie_word_embeddings=True,
        bos_token_id=1,
        eos_token_id=2,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def ladder_data(tmp_path_factory) -> Path:
    """One data directory shared by the ladder tests, so rungs quantized by one test are reused by the next."""
    return tmp_path_factory.mktemp("ladder-data")


@pytest.fixture
def in_ladder_data(ladder_data, monkeypatch):
    from lab.core.settings import get_settings

    monkeypatch.setenv("LAB_DATA_DIR", str(ladder_data))
    get_settings.cache_clear()
    yield ladder_data
    get_settings.cache_clear()


def partials(folder: Path) -> list[Path]:
    return list(Path(folder).glob("*.partial-*"))


# ---------------------------------------------------------------------------------------------- sdist
def test_extract_takes_only_the_converter_files(tmp_path):
    from lab.gguf.sdist import extract

    top = "llama_cpp_python-9.9.9/"
    files = {
        "vendor/llama.cpp/convert_hf_to_gguf.py": b"print('converter')\n",
        "vendor/llama.cpp/conversion/llama.py": b"# arch\n",
        "vendor/llama.cpp/gguf-py/gguf/__init__.py": b"# gguf\n",
        "vendor/llama.cpp/models/templates/x.jinja": b"{{ x }}",
        "vendor/llama.cpp/ggml/src/ggml.c": b"int main;",  # the C sources stay in the archive
        "vendor/llama.cpp/models/ggml-vocab-qwen2.gguf": b"GGUF",  # vocab zoo: not needed to convert
        "llama_cpp/llama.py": b"# binding",
    }
    sdist = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    with tarfile.open(sdist, "w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(top + name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dest = extract(sdist, tmp_path / "llama.cpp-9.9.9")
    got = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert got == [
        ".complete",
        "conversion/llama.py",
        "convert_hf_to_gguf.py",
        "gguf-py/gguf/__init__.py",
        "models/templates/x.jinja",
    ]
    assert not list(tmp_path.glob("*.tmp*"))


def test_missing_sdist_offline_names_the_command(tmp_settings, monkeypatch, tmp_path):
    from lab.gguf import sdist

    monkeypatch.setenv("PIP_CACHE_DIR", str(tmp_path / "empty-pip-cache"))
    monkeypatch.setattr(sdist, "pip_cache_dirs", lambda: [tmp_path / "empty-pip-cache"])
    with pytest.raises(ProviderUnavailable) as e:
        sdist.converter_script(download=False)
    msg = str(e.value)
    assert "pip download --no-deps --no-binary :all: llama-cpp-python==" + sdist.installed_version() in msg
    assert not sdist.tools_dir().exists()


# ---------------------------------------------------------------------------------------------- convert: bad input
def test_not_a_model_folder_says_what_is_missing(tmp_path):
    from lab.gguf.convert import convert

    with pytest.raises(InputError, match="is not a folder"):
        convert(tmp_path / "nowhere", tmp_path / "x.gguf")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("hello")
    with pytest.raises(InputError) as e:
        convert(tmp_path / "notes", tmp_path / "x.gguf")
    assert "config.json" in str(e.value) and "weights" in str(e.value) and "tokenizer" in str(e.value)
    (tmp_path / "adapter").mkdir()
    (tmp_path / "adapter" / "adapter_config.json").write_text("{}")
    with pytest.raises(InputError, match="LoRA adapter"):
        convert(tmp_path / "adapter", tmp_path / "x.gguf")
    with pytest.raises(InputError, match="--outtype"):
        convert(tmp_path / "notes", tmp_path / "x.gguf", outtype="q4_k_m")
    assert not list(tmp_path.glob("*.gguf*"))


def test_hub_id_offline_says_so(tmp_path, monkeypatch):
    from lab.gguf.convert import convert

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ProviderUnavailable, match="Hub is off"):
        convert("HuggingFaceTB/SmolLM2-135M-Instruct", tmp_path / "x.gguf")
    assert not list(tmp_path.glob("*.gguf*"))


@pytest.mark.slow  # the tiny_model fixture builds a transformers Llama (torch)
def test_too_little_disk_is_refused_with_the_numbers(tiny_model, tmp_path):
    from lab.gguf.convert import convert

    seen = []
    with pytest.raises(InputError) as e:
        convert(tiny_model, tmp_path / "tiny.gguf", free_bytes=lambda p: seen.append(p) or 1_000_000)
    msg = str(e.value)
    # 3.2M parameters x 2 bytes (+5%) = 7 MB needed, 1 MB free
    assert "needs about 7 MB" in msg and "only 1 MB is free" in msg and "3.2M parameters" in msg
    assert seen == [tmp_path]
    assert not (tmp_path / "tiny.gguf").exists()


@pytest.mark.slow
def test_unknown_architecture_shows_the_converters_message(tiny_model, tmp_path, script):
    import shutil

    from lab.gguf.convert import convert

    odd = tmp_path / "odd"
    shutil.copytree(tiny_model, odd)
    cfg = json.loads((odd / "config.json").read_text())
    cfg["architectures"] = ["NoSuchModelForCausalLM"]
    (odd / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError) as e:
        convert(odd, tmp_path / "odd.gguf", script=script)
    assert "does not know the architecture NoSuchModelForCausalLM" in str(e.value)
    assert "Traceback" not in str(e.value)
    assert not (tmp_path / "odd.gguf").exists() and not partials(tmp_path)


@pytest.mark.slow
def test_interrupted_conversion_leaves_no_file(tiny_model, tmp_path, script):
    from lab.gguf.convert import convert

    def stop_when_writing(msg: str) -> None:
        if msg.startswith("Writing the GGUF") or "-->" in msg:
            raise KeyboardInterrupt  # what Ctrl+C (or a stopped page) raises mid-job

    with pytest.raises(KeyboardInterrupt):
        convert(tiny_model, tmp_path / "tiny.gguf", progress=stop_when_writing, script=script)
    assert not (tmp_path / "tiny.gguf").exists()
    assert not partials(tmp_path)


def test_temp_then_rename_publishes_only_finished_files(tmp_path):
    from lab.gguf.convert import temp_then_rename

    out = tmp_path / "m.gguf"
    with pytest.raises(RuntimeError):
        with temp_then_rename(out) as tmp:
            tmp.write_bytes(b"GGUF half")
            raise RuntimeError("died half-way")
    assert not out.exists() and not partials(tmp_path)
    with temp_then_rename(out) as tmp:
        assert tmp.parent == tmp_path and tmp.name != out.name
        tmp.write_bytes(b"GGUF whole")
    assert out.read_bytes() == b"GGUF whole" and not partials(tmp_path)


# ---------------------------------------------------------------------------------------------- merge
@pytest.mark.slow
def test_finetune_run_is_merged_then_converted(tiny_model, tmp_path, script):
    """A run folder's LoRA adapter lands in the GGUF: attn_v = W + (alpha / r) * B @ A."""
    import numpy as np
    import torch
    from gguf import GGUFReader
    from peft import LoraConfig, get_peft_model
    from safetensors.torch import load_file
    from transformers import LlamaForCausalLM

    from lab.finetune.config import RunConfig
    from lab.gguf.convert import convert

    run = tmp_path / "runs" / "20260101-000000-test"
    run.mkdir(parents=True)
    RunConfig(base_model=str(tiny_model)).save(run / "config.yaml")
    torch.manual_seed(1)
    base = LlamaForCausalLM.from_pretrained(tiny_model)
    w = base.model.layers[0].self_attn.v_proj.weight.detach().clone()
    # init_lora_weights=False: B is random instead of zero, so the merge visibly changes the weights
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["v_proj"], init_lora_weights=False))
    lora.save_pretrained(run / "adapter")
    saved = load_file(run / "adapter" / "adapter_model.safetensors")
    a = next(v for k, v in saved.items() if "layers.0." in k and "lora_A" in k)
    b = next(v for k, v in saved.items() if "layers.0." in k and "lora_B" in k)
    expected = (w + (8 / 4) * b @ a).numpy()

    r = convert(run, tmp_path / "merged.gguf", script=script)
    assert r.source_kind == "run" and r.path.exists()
    t = next(t for t in GGUFReader(str(r.path)).tensors if t.name == "blk.0.attn_v.weight")
    got = np.asarray(t.data, dtype=np.float32).reshape(expected.shape)
    assert np.allclose(got, expected, atol=2e-3)
    assert not np.allclose(got, w.numpy(), atol=2e-3)  # the adapter really was merged
    assert not list(tmp_path.glob("merge-*"))  # the merged temp folder is gone


def test_run_without_final_adapter_is_refused(tmp_path):
    from lab.gguf.convert import merge_run

    run = tmp_path / "run"
    run.mkdir()
    (run / "status.json").write_text(json.dumps({"state": "stopped"}))
    with pytest.raises(InputError, match=r"no final adapter \(state: stopped\)"):
        merge_run(run, tmp_path / "out")


# ---------------------------------------------------------------------------------------------- perplexity
@pytest.mark.slow
def test_f16_perplexity_matches_transformers_loss(smol_f16, smol_hf):
    """llama.cpp's F16 perplexity = exp(transformers' mean NLL) on the same token ids, within 1%."""
    import torch
    from transformers import AutoModelForCausalLM

    from lab.gguf import quality

    ids, logp = quality.log_probs(smol_f16, quality.load_text(), max_tokens=128)
    q = quality.score(logp, ids)
    assert q.n_positions == len(ids) - 1 == 127
    model = AutoModelForCausalLM.from_pretrained(smol_hf, dtype=torch.float32)
    x = torch.tensor([ids])
    with torch.no_grad():
        loss = model(input_ids=x, labels=x).loss.item()  # mean NLL over the same 127 predictions
    assert q.ppl == pytest.approx(math.exp(loss), rel=0.01)
    assert 2 < q.ppl < 200  # a real language model on English, not noise


def test_score_by_hand():
    import numpy as np

    from lab.gguf.quality import log_softmax, score

    ref = log_softmax(np.log(np.array([[0.5, 0.25, 0.25], [0.1, 0.8, 0.1]], dtype=np.float32)))
    other = log_softmax(np.log(np.array([[0.25, 0.5, 0.25], [0.1, 0.8, 0.1]], dtype=np.float32)))
    s = score(other, [0, 0, 1], reference=ref)
    assert s.ppl == pytest.approx(math.exp(-(math.log(0.25) + math.log(0.8)) / 2), rel=1e-5)
    assert s.top1_agree == 0.5  # position 0: argmax 1 vs 0; position 1: both 1
    kl0 = 0.5 * math.log(0.5 / 0.25) + 0.25 * math.log(0.25 / 0.5)
    assert s.kl == pytest.approx(kl0 / 2, rel=1e-4)
    assert score(ref, [0, 0, 1], reference=ref).kl == pytest.approx(0, abs=1e-6)


# ---------------------------------------------------------------------------------------------- quantize
def test_unknown_type_is_refused(tmp_path):
    from lab.gguf.quantize import quantize

    with pytest.raises(InputError) as e:
        quantize(tmp_path / "in.gguf", tmp_path / "out.gguf", "Q9_K")
    assert "Unknown quantization type 'Q9_K'" in str(e.value) and "Q4_K_M" in str(e.value)


@pytest.mark.slow
def test_quantize_explains_fallbacks_and_refuses_requantizing(smol_f16, tmp_path):
    from lab.gguf.quantize import quantize

    q = quantize(smol_f16, tmp_path / "smol-Q4_K_M.gguf", "q4_k_m", n_threads=2)
    assert q.type == "Q4_K_M" and q.bytes < smol_f16.stat().st_size / 2
    assert 4.5 < q.bpw < 7 and q.n_tensors == 272
    assert q.fallbacks and all(f.ncols == 576 and f.block == 256 for f in q.fallbacks)
    words = " ".join(q.explanation)
    assert "super-blocks of 256" in words and "576 long" in words and "q5_0" in words
    assert not partials(tmp_path)

    with pytest.raises(InputError) as e:
        quantize(q.path, tmp_path / "twice.gguf", "Q4_0")
    assert "already quantized (Q4_K_M)" in str(e.value) and "--allow-requantize" in str(e.value)
    assert not (tmp_path / "twice.gguf").exists()
    again = quantize(q.path, tmp_path / "twice.gguf", "Q4_0", allow_requantize=True, n_threads=2)
    assert again.path.exists() and "second rounding error" in again.warnings[0]


@pytest.mark.slow
def test_killed_quantize_never_leaves_the_final_name(smol_f16, tmp_path):
    """A job killed half-way (kill -9: no cleanup code runs) leaves at most a .partial file, never OUT."""
    out = tmp_path / "killed-Q8_0.gguf"
    code = (
        "import sys; from lab.gguf.quantize import quantize; "
        f"quantize({str(smol_f16)!r}, {str(out)!r}, 'Q8_0', n_threads=1)"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=os.environ | {"PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not partials(tmp_path) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert partials(tmp_path), "the quantizer never started writing"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not out.exists()


# ---------------------------------------------------------------------------------------------- ladder + CLI
def _parser():
    import argparse

    from lab.gguf.ladder_cli import add_ladder_commands

    p = argparse.ArgumentParser(prog="lab")
    g = p.add_subparsers(dest="command", required=True).add_parser("gguf").add_subparsers(dest="gguf_command")
    add_ladder_commands(g)
    return p


@pytest.mark.slow
def test_ladder_json(smol_f16, in_ladder_data, capsys):
    """`gguf ladder --source F16 --types Q8_0,Q4_K_M --json`: F16 first, the contract's keys, quality falls with bits."""
    args = _parser().parse_args(
        [
            "gguf",
            "ladder",
            "--source",
            str(smol_f16),
            "--types",
            "Q8_0,q4_k_m",
            "--max-tokens",
            "64",
            "--n-prompt",
            "16",
            "--n-gen",
            "4",
            "--quiet",
            "--json",
        ]
    )
    assert args.func(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["type"] for r in rows] == ["F16", "Q8_0", "Q4_K_M"]
    assert all(set(r) == {"type", "path", "bytes", "bpw", "ppl", "top1_agree", "kl", "pp_tps", "tg_tps"} for r in rows)
    f16, q8, q4 = rows
    assert f16["top1_agree"] is None and f16["kl"] is None and 15.9 < f16["bpw"] < 16.1
    assert f16["bytes"] > q8["bytes"] > q4["bytes"]
    assert 8.4 < q8["bpw"] < 8.6 and q4["bpw"] < q8["bpw"]
    assert q8["top1_agree"] >= 0.9 and q8["kl"] < q4["kl"]
    assert abs(q8["ppl"] - f16["ppl"]) < abs(q4["ppl"] - f16["ppl"]) + 0.5
    assert all(r["pp_tps"] > 0 and r["tg_tps"] > 0 for r in rows)
    assert all(Path(r["path"]).is_file() for r in rows)


def test_ladder_bad_inputs(in_ladder_data, tmp_path):
    from lab.gguf.ladder import ladder, parse_types

    assert parse_types("Q8_0, q4_k_m,Q8_0") == ["Q8_0", "Q4_K_M"]
    with pytest.raises(InputError, match="Unknown quantization type 'Q7'"):
        ladder(tmp_path, "Q8_0,Q7")
    with pytest.raises(InputError, match="not a transformers model folder"):
        ladder(tmp_path, "Q8_0", "some text " * 20)


def test_cli_quantize_unknown_type_via_lab(tmp_path):
    """Through `python -m lab` once the lead has wired add_ladder_commands into lab/gguf/cli.py."""
    from lab.cli import build_parser

    try:
        build_parser().parse_args(["gguf", "quantize", "x.gguf", "--type", "Q4_0", "--out", "y.gguf"])
    except SystemExit:
        pytest.skip("`gguf quantize` is not registered in lab/gguf/cli.py yet (add_ladder_commands not wired)")
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab",
            "gguf",
            "quantize",
            str(tmp_path / "in.gguf"),
            "--type",
            "Q9",
            "--out",
            str(tmp_path / "out.gguf"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 2 and "Unknown quantization type 'Q9'" in r.stderr


# ---------------------------------------------------------------------------------------------- the page section
def _section_app():
    from ui.gguf_ladder import render_ladder_section

    render_ladder_section()


@pytest.mark.slow
def test_ladder_section_apptest(smol_f16, in_ladder_data):
    """The section as the page's tab shows it: pick an F16 GGUF and one type, run, see chart, table, warnings."""
    from streamlit.testing.v1 import AppTest

    from ui.gguf_ladder import OTHER

    at = AppTest.from_function(_section_app, default_timeout=300)
    at.run()
    assert not at.exception
    at.selectbox(key="ladder.source").select(OTHER).run()
    at.text_input(key="ladder.path").input(str(smol_f16))
    at.multiselect(key="ladder.types").set_value(["Q4_K_M"])
    at.number_input(key="ladderLadderOptions.max_tokens").set_value(64)
    at.number_input(key="ladderLadderOptions.n_prompt").set_value(16)
    at.number_input(key="ladderLadderOptions.n_gen").set_value(4)
    at.button(key="ladder.run").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    table = at.dataframe[0].value
    assert list(table["type"]) == ["F16", "Q4_K_M"]
    assert table["MB"].iloc[0] > table["MB"].iloc[1] and table["top-1 agree"].iloc[1] > 0.5
    assert at.get("plotly_chart")
    said = " ".join(m.value for m in at.markdown)
    assert "super-blocks of 256" in said and "576 long" in said  # the fallbacks, in plain words


def test_ladder_section_explains_a_bad_source(in_ladder_data, tmp_path):
    from streamlit.testing.v1 import AppTest

    from ui.gguf_ladder import OTHER

    (tmp_path / "notes.txt").write_text("not a model")
    at = AppTest.from_function(_section_app, default_timeout=60)
    at.run()
    at.selectbox(key="ladder.source").select(OTHER).run()
    at.text_input(key="ladder.path").input(str(tmp_path))
    at.button(key="ladder.run").click().run()
    assert not at.exception
    assert "not a transformers model folder" in at.error[0].value and "config.json" in at.error[0].value
    assert not at.dataframe
