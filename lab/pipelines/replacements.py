"""The QA and text2text pipelines transformers 5 removed, registered again with its own ``PIPELINE_REGISTRY``.

The course's small task models (DistilBERT-SQuAD, DistilBART-CNN, T5, Marian) still run well on a CPU; two small
pipeline classes make ``pipeline("lab-question-answering" | "lab-text2text", model=...)`` load them like any other.
"""

from __future__ import annotations

_REGISTERED = False


def _register_lab_pipelines() -> None:
    """Register the two task pipelines transformers 5 removed (see the module docstring), once."""
    global _REGISTERED
    if _REGISTERED:
        return
    from transformers import AutoModelForQuestionAnswering, AutoModelForSeq2SeqLM, Pipeline
    from transformers.pipelines import PIPELINE_REGISTRY

    class Text2TextPipeline(Pipeline):
        """Seq2seq: (config prefix +) text -> generate() -> decoded text under the course's key."""

        _load_tokenizer = True
        _pipeline_calls_generate = True

        def _sanitize_parameters(self, task_key=None, result_key=None, max_new_tokens=None, **kwargs):
            pre = {"task_key": task_key} if task_key else {}
            fwd = {"max_new_tokens": max_new_tokens} if max_new_tokens else {}
            post = {"result_key": result_key} if result_key else {}
            return pre, fwd, post

        def preprocess(self, text, task_key=""):
            prefix = ((self.model.config.task_specific_params or {}).get(task_key) or {}).get("prefix", "")
            enc = self.tokenizer(prefix + text, return_tensors="pt", truncation=True)
            enc.pop("token_type_ids", None)  # BERT-style tokenizers add them; encoder-decoder models take none
            return enc

        def _forward(self, inputs, **generate_kwargs):
            return {"ids": self.model.generate(**inputs, **generate_kwargs)}

        def postprocess(self, outputs, result_key="generated_text"):
            return [{result_key: self.tokenizer.decode(outputs["ids"][0], skip_special_tokens=True)}]

    class ExtractiveQAPipeline(Pipeline):
        """(question, context) -> start/end logits -> the likeliest span of the context (answer <= 30 tokens)."""

        _load_tokenizer = True

        def _sanitize_parameters(self, context=None, max_answer_len=None, **kwargs):
            return (
                ({"context": context} if context is not None else {}),
                {},
                ({"max_answer_len": max_answer_len} if max_answer_len else {}),
            )

        def preprocess(self, question, context=""):
            enc = self.tokenizer(
                question,
                context,
                return_tensors="pt",
                truncation="only_second",
                max_length=384,
                return_offsets_mapping=True,
            )
            offsets = enc.pop("offset_mapping")[0]
            in_context = [s == 1 for s in enc.sequence_ids(0)]
            return {"inputs": dict(enc), "offsets": offsets, "in_context": in_context, "context": context}

        def _forward(self, batch):
            out = self.model(**batch["inputs"])
            return {**batch, "start": out.start_logits[0], "end": out.end_logits[0]}

        def postprocess(self, out, max_answer_len=30):
            import torch

            mask = torch.tensor(out["in_context"])
            start = out["start"].float().masked_fill(~mask, -1e4).softmax(-1)
            end = out["end"].float().masked_fill(~mask, -1e4).softmax(-1)
            pair = torch.triu(start[:, None] * end[None, :]).tril(max_answer_len - 1)  # end >= start, short spans
            best = int(pair.argmax())
            i, j = divmod(best, pair.shape[1])
            a, b = int(out["offsets"][i][0]), int(out["offsets"][j][1])
            return {"score": float(pair.flatten()[best]), "start": a, "end": b, "answer": out["context"][a:b]}

    PIPELINE_REGISTRY.register_pipeline(
        "lab-text2text", pipeline_class=Text2TextPipeline, pt_model=AutoModelForSeq2SeqLM
    )
    PIPELINE_REGISTRY.register_pipeline(
        "lab-question-answering", pipeline_class=ExtractiveQAPipeline, pt_model=AutoModelForQuestionAnswering
    )
    _REGISTERED = True
