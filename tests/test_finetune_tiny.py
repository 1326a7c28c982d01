"""A tiny Llama (2 layers, hidden 64) with SmolLM2's real tokenizer: what the fine-tune tests train, in seconds.

The model is built by ``tests.helpers.tiny_model_dir`` (the ``tiny_dir`` fixture in conftest.py, shared with the
other fine-tune test modules); the test below checks the model itself.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.slow  # builds a transformers model (imports torch)


def test_tiny_model_loads_and_speaks_smollm2_tokens(tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.num_hidden_layers == 2 and model.config.vocab_size == len(tok) == 49152
    assert tok("129.00")["input_ids"] == [tok.convert_tokens_to_ids(c) for c in "129.00"]  # one digit per token
