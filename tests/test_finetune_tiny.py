"""A tiny Llama (2 layers, hidden 64) with SmolLM2's real tokenizer: what the fine-tune tests train, in seconds.

Other fine-tune test modules import ``tiny_model_dir`` / ``TINY`` from here; the test below checks the model itself.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

# hidden 64, 4 heads of 16, 2 KV heads (k/v project to 32), MLP 128, 2 layers, tied embeddings
TINY = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
            max_position_embeddings=512, tie_word_embeddings=True)
_LOCK = threading.Lock()
_DIR: list[Path] = []


def tiny_model_dir(root: Path) -> Path:
    """Build (once per session) and save the tiny model + tokenizer; returns the folder."""
    with _LOCK:
        if _DIR and _DIR[0].exists():
            return _DIR[0]
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        from lab import assets

        tok = AutoTokenizer.from_pretrained(str(assets.smollm2_hf_dir()))
        cfg = LlamaConfig(vocab_size=len(tok), bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                          pad_token_id=tok.pad_token_id, **TINY)
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        out = root / "tiny-llama"
        model.save_pretrained(out)
        tok.save_pretrained(out)
        _DIR[:] = [out]
        return out


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("finetune"))


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    from lab import assets

    return assets.smollm2_hf_dir()          # the real data dir's copy, made once by `python -m lab assets --prepare`


@pytest.fixture
def ft_settings(tmp_settings, smollm2_dir):
    """An empty data dir for runs, with the SmolLM2 transformers copy linked in (no 20 s re-conversion)."""
    from lab import assets

    target = tmp_settings.data_dir / assets.SPECS[[s.name for s in assets.SPECS].index("smollm2-hf")].relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(smollm2_dir, target_is_directory=True)
    return tmp_settings


def pairs(n: int = 24) -> list[dict]:
    """Inline prompt/completion pairs shaped like the pricer's (the prompt ends with 'Price is $')."""
    items = [("USB-C charger 65W", 39), ("4K monitor 27 inch", 329), ("Wireless earbuds", 129), ("Laptop stand", 45),
             ("Mechanical keyboard", 89), ("Webcam 1080p", 59), ("Portable SSD 1TB", 109), ("Smart speaker", 99)]
    out = []
    for i in range(n):
        title, price = items[i % len(items)]
        out.append({"prompt": f"What does this cost to the nearest dollar?\n\n{title} (model {i})\n\nPrice is $",
                    "completion": f"{price}.00", "price": float(price), "title": title})
    return out


def test_tiny_model_loads_and_speaks_smollm2_tokens(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == len(tok) == 49152
    assert tok("129.00")["input_ids"] == [tok.convert_tokens_to_ids(c) for c in "129.00"]  # one digit per token
