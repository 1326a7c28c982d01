"""The training data as the trainer sees it: prompt/completion pairs, their token lengths, and the loss mask.

The pricer lab turns each product into a pair; the completion is the price the model must learn to write:

    {"prompt": "What does this cost to the nearest dollar?\\n\\nSony WH-1000XM5 ...\\n\\nPrice is $", "completion": "349.00"}

trl's ``SFTTrainer`` with ``completion_only_loss=True`` tokenizes ``prompt`` and ``prompt + completion + eos``,
and learns only the tokens after their common prefix. With SmolLM2 (one digit per token) the sequence ends

    ... ' is' ' $' | '3' '4' '9' '.' '0' '0' '<|im_end|>'
    learned:   no   no  | yes yes yes yes yes yes  yes

so the loss is the model's surprise at the price alone - the successor of the course's
``DataCollatorForCompletionOnlyLM``. ``masked_tokens`` reproduces that rule with trl's own ``common_prefix_length``
(tests check it against the labels ``SFTTrainer`` really builds), so the page can show what will be learned.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import asdict, dataclass
from pathlib import Path

from lab.core.errors import InputError
from lab.finetune.config import RunConfig


def load_pairs(cfg: RunConfig) -> tuple[list[dict], list[dict]]:
    """(train, val) prompt/completion pairs from the pricer's train split, sized as the config says.

    The pricer splits train/test only; the validation items are carved off the front of its (seeded, shuffled)
    train split so they never appear in training, and its test split stays untouched for ``evaluate``.
    """
    from lab.pricer.data import prompt_completion

    rows = prompt_completion("train", n=None, seed=cfg.seed)
    val, train = rows[: cfg.val_size], rows[cfg.val_size : cfg.val_size + cfg.train_size]
    if len(train) < cfg.batch_size:
        raise InputError(
            f"the pricer's train split leaves {len(train)} training items (after {len(val)} for "
            f"validation), fewer than batch_size {cfg.batch_size}; lower batch_size or val_size"
        )
    return train, val


def write_jsonl(rows: list[dict], path: Path) -> Path:
    with path.open("w") as f:
        for r in rows:
            f.write(json.dumps({"prompt": r["prompt"], "completion": r["completion"]}) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# ---------------------------------------------------------------------------------------------- tokens
def tokenizer_for(cfg: RunConfig):
    """The base model's tokenizer (``lab.core.tokenizers.auto_tokenizer``: loaded once per model, shared read-only)."""
    from lab.core.tokenizers import auto_tokenizer
    from lab.finetune.config import resolve_base_model

    name = resolve_base_model(cfg.base_model)
    try:
        return auto_tokenizer(name)
    except (OSError, ValueError) as e:
        raise InputError(
            f"cannot load the tokenizer of {cfg.base_model!r}: {str(e).splitlines()[0][:200]}; "
            "offline use 'smollm2' or a local folder"
        ) from e


def tokenize_pair(tokenizer, prompt: str, completion: str) -> tuple[list[int], int]:
    """(ids of prompt + completion + eos, number of leading prompt ids), exactly as trl 1.x prepares a pair."""
    from trl.data_utils import common_prefix_length

    eos = tokenizer.eos_token or ""
    completion = completion if completion.endswith(eos) else completion + eos  # trl adds eos to the completion
    prompt_ids = tokenizer(text=prompt)["input_ids"]
    ids = tokenizer(text=prompt + completion)["input_ids"]
    return ids, common_prefix_length(prompt_ids, ids)


@dataclass
class MaskedToken:
    id: int
    text: str
    learned: bool  # counts in the loss (a completion token)
    kept: bool  # inside max_seq_length (False: truncated away, never seen)


def masked_tokens(tokenizer, pair: dict, max_length: int) -> list[MaskedToken]:
    """Every token of one pair with whether the loss learns it and whether truncation keeps it."""
    ids, n_prompt = tokenize_pair(tokenizer, pair["prompt"], pair["completion"])
    return [MaskedToken(i, tokenizer.decode([i]), k >= n_prompt, k < max_length) for k, i in enumerate(ids)]


def labels(tokenizer, pair: dict, max_length: int) -> list[int]:
    """The ``labels`` row the trainer builds: token ids where learned, -100 where masked, cut to max_length."""
    return [t.id if t.learned else -100 for t in masked_tokens(tokenizer, pair, max_length) if t.kept]


@dataclass
class LengthReport:
    n: int
    max_length: int
    prompt_tokens: list[int]
    total_tokens: list[int]
    longest_prompt: int
    median_total: float
    n_cut: int  # sequences longer than max_length (their price is partly or wholly cut)
    n_dropped: int  # prompt alone fills max_length: no completion token left, trl drops the example

    def to_dict(self) -> dict:
        return asdict(self)


def length_report(tokenizer, pairs: list[dict], max_length: int) -> LengthReport:
    prompt_lens, totals = [], []
    for p in pairs:
        ids, n_prompt = tokenize_pair(tokenizer, p["prompt"], p["completion"])
        prompt_lens.append(n_prompt)
        totals.append(len(ids))
    return LengthReport(
        n=len(pairs),
        max_length=max_length,
        prompt_tokens=prompt_lens,
        total_tokens=totals,
        longest_prompt=max(prompt_lens, default=0),
        median_total=statistics.median(totals) if totals else 0.0,
        n_cut=sum(t > max_length for t in totals),
        n_dropped=sum(p >= max_length for p in prompt_lens),
    )


def check_lengths(report: LengthReport) -> None:
    """Refuse a max_seq_length that would cut prices off: the model would learn nothing from those items."""
    if report.n_cut:
        need = max(report.total_tokens)
        raise InputError(
            f"max_seq_length {report.max_length} is shorter than {report.n_cut} of {report.n} training sequences "
            f"(longest prompt {report.longest_prompt} tokens; {report.n_dropped} prompts alone fill it), so their "
            f"prices would be cut off and not learned; raise max_seq_length to at least {need}."
        )
