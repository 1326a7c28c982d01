"""Renderers for the Pipelines page: a pipeline's raw output beside a friendly view, and what loading cost.

    show_result(st, result)   # e.g. NER: "Barack Obama [PER] was president of the United States [LOC]" + table

Friendly views per task: highlighted entities (NER) and answers (QA), one bar per label (sentiment, zero-shot,
fill-mask), the text a model wrote, the shape of embeddings. Results from a tiny untrained model carry a
warning everywhere they appear. No model library is imported here: only ``lab`` results are rendered.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st
from pydantic import BaseModel, ValidationError

from lab.pipelines.running import PipelineResult

COLORS = {"PER": "blue", "ORG": "green", "LOC": "orange", "MISC": "violet"}
_MD_SPECIAL = "\\`*_{}[]<>()#+-.!|$~:"


def escape_md(text: str) -> str:
    return "".join("\\" + c if c in _MD_SPECIAL else c for c in text)


def validated(model_cls: type[BaseModel], values: dict, where=st):
    """The options object, or None after showing which value is out of bounds and why."""
    try:
        return model_cls(**values)
    except ValidationError as e:
        for err in e.errors():
            where.error(f"{'.'.join(map(str, err['loc']))}: {err['msg']}", icon="⚠️")
        return None


def label_bars(pairs: list[tuple[str, float]], where=st, note: str = "") -> None:
    """One bar per label; scores outside [0, 1] (cosines can be negative) are clipped for the bar only."""
    for label, score in pairs:
        where.progress(min(max(float(score), 0.0), 1.0), text=f"{label}: {score:.3f}")
    if note:
        where.caption(note)


def highlighted(text: str, spans: list[tuple[int, int, str]]) -> str:
    """Markdown with each (start, end, tag) span on a coloured background, the tag after it in bold."""
    out, pos = [], 0
    for start, end, tag in sorted(spans):
        if start < pos:  # overlapping spans: keep the first
            continue
        out.append(escape_md(text[pos:start]))
        out.append(f":{COLORS.get(tag, 'gray')}-background[{escape_md(text[start:end])} **{escape_md(tag)}**]")
        pos = end
    out.append(escape_md(text[pos:]))
    return "".join(out)


def friendly(result: PipelineResult, text: str, context: str | None, where=st) -> None:
    out, task = result.output, result.task
    if task == "sentiment-analysis":
        label_bars([(o["label"], o["score"]) for o in out], where)
    elif task == "ner":
        where.markdown(highlighted(text, [(e["start"], e["end"], e["entity_group"]) for e in out]) or "(no entities)")
        if out:
            where.dataframe(pd.DataFrame(out), hide_index=True)
    elif task == "question-answering":
        where.markdown(f"**Answer:** {escape_md(out['answer']) or '(empty)'}  (score {out['score']:.3f})")
        where.markdown(highlighted(context or "", [(out["start"], out["end"], "answer")]))
    elif task == "zero-shot-classification":
        label_bars(list(zip(out["labels"], out["scores"])), where, out.get("method", "probabilities"))
    elif task == "fill-mask":
        label_bars([(o["token_str"], o["score"]) for o in out], where)
    elif task == "feature-extraction":
        vectors = out[0]
        where.markdown(
            f"**{len(vectors)} tokens × {len(vectors[0])} numbers** (one vector per token; "
            "sentence embeddings average them)."
        )
        where.dataframe(pd.DataFrame([v[:8] for v in vectors], columns=[f"d{i}" for i in range(8)]).round(3))
    elif task == "text-generation":
        gen = out[0]["generated_text"]
        where.markdown(gen[-1]["content"] if isinstance(gen, list) else gen)
    else:  # summarization, translation
        where.info(next(iter(out[0].values())))


def show_result(result: PipelineResult, text: str, context: str | None = None, where=st) -> None:
    if result.untrained:
        where.warning(result.note, icon="🎲")
    elif result.note:
        where.info(result.note, icon="ℹ️")
    raw, nice = where.columns(2)
    raw.markdown("**Raw pipeline output**")
    raw.json(result.output, expanded=2)
    nice.markdown("**Friendly view**" + (" - random, untrained model" if result.untrained else ""))
    friendly(result, text, context, nice)
    where.caption(f"{result.model} ({result.source}), answered in {result.seconds:.2f} s")


def show_load_cost(info, where=st) -> None:
    cols = where.columns(4)
    cols[0].metric("Load time", f"{info.load_s:.2f} s")
    cols[1].metric("Parameters", f"{info.params / 1e6:,.1f} M")
    cols[2].metric("Memory footprint", f"{info.footprint_bytes / 2**20:,.1f} MiB")
    cols[3].metric("Device / dtype", f"{info.device} / {info.dtype}")
    where.caption(f"Files: {info.location}")


def show_quantized(q: dict, where=st) -> None:
    rows = [("full", q["full_bytes"]), ("8-bit (LLM.int8)", q["int8_bytes"]), ("4-bit (NF4)", q["nf4_bytes"])]
    df = pd.DataFrame(
        [{"weights": n, "MiB": round(b / 2**20, 1), "vs full": f"{b / q['full_bytes']:.0%}"} for n, b in rows]
    )
    where.dataframe(df, hide_index=True)
    where.caption(("Measured: " if q["measured"] else "Estimated: ") + q["why"])
