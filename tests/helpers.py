"""Plain helpers shared by several test modules (fixtures live in conftest.py; no test module imports another).

- ``tiny_model_dir`` / ``TINY``: a tiny Llama (2 layers, hidden 64) with SmolLM2's real tokenizer, what the fine-tune
  tests train in seconds (checked by tests/test_finetune_tiny.py).
- ``pairs``: inline prompt/completion rows shaped like the pricer's.
- ``write_tiny_gguf``: a 9 KB GGUF written with gguf.GGUFWriter (checked by tests/test_gguf_inspect.py).
- ``Double`` / ``doubles_agent``: the Agents lab's ensemble with test-double members (tests/test_agents.py).
- ``openai_tab_app`` / ``openai_records_dir`` / ``widget``: the Fine-tune page's OpenAI tab headless
  (tests/test_finetune_openai_page.py).
"""

from __future__ import annotations

import threading
from pathlib import Path

# ---------------------------------------------------------------------------------------------- fine-tune
# hidden 64, 4 heads of 16, 2 KV heads (k/v project to 32), MLP 128, 2 layers, tied embeddings
TINY = dict(
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=512,
    tie_word_embeddings=True,
)
_LOCK = threading.Lock()
_DIR: list[Path] = []


def tiny_model_dir(root: Path) -> Path:
    """Build (once per session) and save the tiny model + tokenizer; returns the folder."""
    with _LOCK:
        if _DIR and _DIR[0].exists():
            return _DIR[0]
        import torch
        from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

        from lab.core import assets

        tok = AutoTokenizer.from_pretrained(str(assets.smollm2_hf_dir()))
        cfg = LlamaConfig(
            vocab_size=len(tok),
            bos_token_id=tok.bos_token_id,
            eos_token_id=tok.eos_token_id,
            pad_token_id=tok.pad_token_id,
            **TINY,
        )
        torch.manual_seed(0)
        model = LlamaForCausalLM(cfg)
        out = root / "tiny-llama"
        model.save_pretrained(out)
        tok.save_pretrained(out)
        _DIR[:] = [out]
        return out


def pairs(n: int = 24) -> list[dict]:
    """Inline prompt/completion pairs shaped like the pricer's (the prompt ends with 'Price is $')."""
    items = [
        ("USB-C charger 65W", 39),
        ("4K monitor 27 inch", 329),
        ("Wireless earbuds", 129),
        ("Laptop stand", 45),
        ("Mechanical keyboard", 89),
        ("Webcam 1080p", 59),
        ("Portable SSD 1TB", 109),
        ("Smart speaker", 99),
    ]
    out = []
    for i in range(n):
        title, price = items[i % len(items)]
        out.append(
            {
                "prompt": f"What does this cost to the nearest dollar?\n\n{title} (model {i})\n\nPrice is $",
                "completion": f"{price}.00",
                "price": float(price),
                "title": title,
            }
        )
    return out


# ---------------------------------------------------------------------------------------------- GGUF
def write_tiny_gguf(path, n_tokens: int = 40):
    """A 9 KB GGUF: llama metadata, a 40-token vocabulary and three tensors (F32, F16, Q8_0)."""
    import gguf
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter
    from gguf.quants import quantize

    w = GGUFWriter(str(path), "llama")
    w.add_name("tiny-test")
    w.add_context_length(128)
    w.add_embedding_length(32)
    w.add_block_count(2)
    w.add_head_count(4)
    w.add_head_count_kv(2)
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0)
    w.add_rope_freq_base(10000.0)
    w.add_tokenizer_model("gpt2")
    w.add_token_list([f"tok{i}" for i in range(n_tokens)])
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_chat_template("{{ messages[0]['content'] }}")
    w.add_tensor("token_embd.weight", np.ones((n_tokens, 32), dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(32, dtype=np.float16))
    q = quantize(np.random.default_rng(0).standard_normal((32, 64)).astype(np.float32), GGMLQuantizationType.Q8_0)
    w.add_tensor("blk.0.attn_q.weight", q, raw_shape=q.shape, raw_dtype=GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


# ---------------------------------------------------------------------------------------------- agents
class Double:
    """A test double member: prices by a formula of the text (or of a known item's true price)."""

    def __init__(self, name, fn):
        self.name, self.fn, self.label = name, fn, f"test double ({name})"

    def price(self, description):
        value = self.fn(description)
        return value, str(value)


def doubles_agent(log=None):
    """An ensemble of three doubles, its regression fitted on synthetic guesses (fast, no data files)."""
    from lab.agents.ensemble import EnsembleAgent
    from lab.pricer.ensemble import Ensemble

    agent = EnsembleAgent(
        [
            Double("specialist", lambda d: 100.0 + len(d) % 50),
            Double("frontier", lambda d: 200.0),
            Double("random_forest", lambda d: 150.0 + len(d) % 30),
        ],
        log,
    )
    a, b, c = [100.0, 120, 140, 160, 180, 130], [200.0, 210, 190, 220, 205, 215], [150.0, 170, 160, 175, 165, 155]
    agent.ensemble = Ensemble().fit({"specialist": a, "frontier": b, "random_forest": c}, [x * 2 + 10 for x in a])
    return agent


# ---------------------------------------------------------------------------------------------- the OpenAI tab
OPENAI_SID = "5e" * 16  # a uuid4().hex-shaped session id, set before the first run so records can be seeded for it


def _openai_tab():
    from ui.finetune_openai import render_openai_tab

    render_openai_tab()


def openai_tab_app(session_id: str | None = None):
    """The Fine-tune page's OpenAI tab as an AppTest (optionally with a fixed session id)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_openai_tab, default_timeout=180)
    if session_id:
        at.session_state["_session_id"] = session_id
    return at


def openai_records_dir(session_id: str = OPENAI_SID):
    """Where the tab keeps that session's job records."""
    from lab.classroom import sessions
    from lab.finetune import openai_jobs as J

    return sessions.session_dir(session_id, *J.SESSION_FOLDER)


def widget(at, kind, key):
    """The AppTest widget of that kind (``"number_input"``, ``"text_input"``...) with that key."""
    return next(w for w in getattr(at, kind) if w.key == key)
