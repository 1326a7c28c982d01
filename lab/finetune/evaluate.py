"""Score a trained adapter on the pricer's test items, beside the same base model without it.

The base model is loaded once (at the run's precision), the LoRA adapter attached with peft; the base model's
own guesses come from the same object with the adapter switched off (``disable_adapter()``), so the only
difference between the two columns is the adapter:

    >>> r = evaluate("~/.cache/llm-engineering-lab/runs/20260101-120000-ab12", n=20)   # doctest: +SKIP
    >>> r["base"]["mae"], r["adapter"]["mae"]
    (212.4, 118.9)

Greedy decoding, 8 new tokens (SmolLM2 writes "129.00" as 6 digit/dot tokens); the price is the first number in
the reply (the pricer's ``parse_price``), and both columns are scored by the pricer's ``score``.
"""

from __future__ import annotations

from pathlib import Path

from lab.core.errors import InputError

MAX_NEW_TOKENS = 8


def _generate(model, tok, prompts: list[str], batch_size: int = 8) -> list[str]:
    import torch

    tok.padding_side = "left"  # decoder-only models continue from the right edge
    out = []
    for i in range(0, len(prompts), batch_size):
        enc = tok(prompts[i : i + batch_size], return_tensors="pt", padding=True).to(model.device)
        with torch.no_grad():
            gen = model.generate(
                **enc, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, pad_token_id=tok.pad_token_id or tok.eos_token_id
            )
        out += tok.batch_decode(gen[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
    return out


def evaluate(run: str | Path, n: int = 20, items: list[dict] | None = None) -> dict:
    """{"n", "base": score, "adapter": score, "rows": [...]} for ``n`` test items (or the given items)."""
    from peft import PeftModel

    from lab.core.device import device as detect_device
    from lab.finetune.config import RunConfig
    from lab.finetune.runner import run_path, status
    from lab.finetune.trainer import load_model
    from lab.pricer.metrics import parse_price, score

    run_dir = run_path(run)
    st = status(run_dir)
    adapter = st["adapter"] or st["checkpoint"]
    if not adapter:
        raise InputError(f"run {run_dir.name} has no adapter yet (state: {st['state']}); train it first")
    cfg = RunConfig.from_yaml(run_dir / "config.yaml")
    if items is None:
        from lab.pricer.data import prompt_completion

        items = prompt_completion("test", n=n, seed=cfg.seed)
    if not items:
        raise InputError("no test items to evaluate on; raise --n")
    device = detect_device()
    tok, base = load_model(cfg, device)
    model = PeftModel.from_pretrained(base, adapter)
    model.eval()
    prompts = [it["prompt"] for it in items]
    tuned = _generate(model, tok, prompts)
    with model.disable_adapter():
        plain = _generate(model, tok, prompts)
    truth = [float(it.get("price") or parse_price(it["completion"])) for it in items]
    base_pred, tuned_pred = [parse_price(t) for t in plain], [parse_price(t) for t in tuned]
    rows = [
        {
            "title": it.get("title", it["prompt"][-80:]),
            "truth": t,
            "base": b,
            "adapter": a,
            "base_text": bt,
            "adapter_text": at,
        }
        for it, t, b, a, bt, at in zip(items, truth, base_pred, tuned_pred, plain, tuned)
    ]
    return {
        "run_id": run_dir.name,
        "adapter_path": adapter,
        "n": len(items),
        "base": score(truth, base_pred),
        "adapter": score(truth, tuned_pred),
        "rows": rows,
    }
