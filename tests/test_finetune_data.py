"""The completion-only loss mask, checked by hand and against the labels trl's SFTTrainer really builds."""

from __future__ import annotations

import pytest

from lab.core.errors import InputError
from lab.finetune import data
from lab.finetune.config import RunConfig
from tests.helpers import pairs


@pytest.fixture(scope="module")
def tok():
    return data.tokenizer_for(RunConfig())  # SmolLM2's tokenizer


@pytest.mark.slow  # the ``tok`` fixture: SmolLM2's tokenizer through transformers
def test_only_the_price_and_eos_are_learned(tok):
    pair = {"prompt": "Wireless earbuds\n\nPrice is $", "completion": "129.00"}
    toks = data.masked_tokens(tok, pair, max_length=128)
    learned = [t.text for t in toks if t.learned]
    assert learned == ["1", "2", "9", ".", "0", "0", "<|im_end|>"]  # one digit per token, then eos
    assert "".join(t.text for t in toks if not t.learned) == pair["prompt"]
    assert all(t.kept for t in toks)
    lab = data.labels(tok, pair, 128)
    assert lab[: len(toks) - 7] == [-100] * (len(toks) - 7) and lab[-7:] == [t.id for t in toks if t.learned]


@pytest.mark.slow  # the ``tok`` fixture: SmolLM2's tokenizer through transformers
def test_truncation_cuts_the_price_and_the_check_says_so(tok):
    pair = {"prompt": "Wireless earbuds\n\nPrice is $", "completion": "129.00"}
    n = len(data.masked_tokens(tok, pair, 128))
    cut = data.masked_tokens(tok, pair, max_length=n - 3)
    assert [t.text for t in cut if not t.kept] == ["0", "0", "<|im_end|>"]
    rep = data.length_report(tok, [pair] * 3, max_length=n - 3)
    assert rep.n_cut == 3 and rep.n_dropped == 0 and rep.longest_prompt == n - 7
    with pytest.raises(InputError, match=f"raise max_seq_length to at least {n}"):
        data.check_lengths(rep)
    short = data.length_report(tok, [pair], max_length=4)
    assert short.n_dropped == 1  # the prompt alone fills it: trl would drop the item
    data.check_lengths(data.length_report(tok, [pair], max_length=n))  # exactly fits: fine


@pytest.mark.slow  # a real SFTTrainer on the tiny Llama (torch, transformers, trl, peft)
def test_mask_matches_sft_trainer_labels(tiny_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from lab.finetune.translate import lora_config, sft_config

    rows = pairs(8)
    tok = AutoTokenizer.from_pretrained(tiny_dir)
    prompt_lens = data.length_report(tok, rows, 512).prompt_tokens
    # a max length that cuts some prices and leaves some prompts with no room at all (trl drops those)
    max_len = sorted(prompt_lens)[len(rows) // 2] + 2
    report = data.length_report(tok, rows, max_len)
    assert 0 < report.n_dropped < report.n_cut <= len(rows)
    cfg = RunConfig(base_model=str(tiny_dir), batch_size=2, train_size=8, max_seq_length=max_len)
    trainer = SFTTrainer(
        model=AutoModelForCausalLM.from_pretrained(tiny_dir),
        processing_class=tok,
        args=sft_config(cfg, tmp_path, device="cpu"),
        peft_config=lora_config(cfg),
        train_dataset=Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows]),
    )
    built = trainer.train_dataset
    assert len(built) == len(rows) - report.n_dropped
    kept = [r for r, n in zip(rows, prompt_lens) if n < max_len]
    for row, ref in zip(kept, built):
        assert row["prompt"] == ref["prompt"]
        assert data.labels(tok, row, max_len) == ref["labels"]


@pytest.mark.slow  # the pricer's data builder loads a tokenizer through transformers
def test_load_pairs_from_the_pricer():
    train, val = data.load_pairs(RunConfig(train_size=10, val_size=3, batch_size=2))
    assert len(train) == 10 and len(val) == 3
    assert all(p["prompt"].endswith("Price is $") for p in train + val)
    assert not {p["prompt"] for p in train} & {p["prompt"] for p in val}  # validation never trains
    with pytest.raises(InputError, match="fewer than batch_size"):
        data.load_pairs(RunConfig(train_size=1000, val_size=5000, batch_size=64))
