"""The ensemble's three members, each a pricer from another lab, each ``price(description) -> (dollars | None, reply)``.

- ``SpecialistMember``: a model fine-tuned to write prices, asked the Pricer's prompt ("How much does this cost to
  the nearest dollar? ... Price is $") as raw text completion. Where it comes from, in order:
  ``modal`` (the deployed pricing service, needs MODAL_TOKEN_ID/SECRET), ``adapter:RUN`` (a Fine-tune lab run's
  LoRA adapter on its base, transformers + peft), ``gguf:PATH`` (the GGUF lab's conversion of a merged run,
  llama.cpp), ``auto`` (the newest finished run's adapter, else the base model) and ``base``: the bundled
  SmolLM2-135M GGUF *without* fine-tuning. The label always says which one answered; none is ever faked.
- ``FrontierMember``: any provider of ``lab.llm``, given the 5 most similar products and their prices from the
  raw-chromadb "products" collection (the Pricer lab's RAG prompt, ``lab.pricer.llm.messages_for``).
- ``ForestMember``: the Pricer lab's "MiniLM + random forest" pipeline, fitted on the members' training items and
  saved with joblib.

A reply without a number is ``None`` (the ensemble then uses the other members' mean for that column).
"""

from __future__ import annotations

import threading
from pathlib import Path

from lab.core.errors import InputError, MissingKeyError, ProviderUnavailable
from lab.llm.base import Options, Provider, run
from lab.pricer.items import Item, scrub
from lab.pricer.metrics import parse_price

MAX_CHARS = 1_000  # about the 160 tokens the Pricer's items are cut to
SERVICE_APP = "lab-pricer-service"  # the Modal app name (lab.agents.modal_service)


def as_item(description: str) -> Item:
    """A deal's text as a Pricer item (scrubbed as the Pricer's data was; no price: that is the question)."""
    text = scrub(" ".join(description.split()))[:MAX_CHARS]
    if not text:
        raise InputError("There is nothing to price: the description is empty.")
    return Item(title=text[:80], category="", price=0.0, text=text, tokens=0)


# ---------------------------------------------------------------------------------------------- random forest
class ForestMember:
    name = "random_forest"

    def __init__(self, model, n_train: int) -> None:
        self.model, self.n_train = model, n_train
        self.label = f"random forest on MiniLM vectors ({n_train} training items, joblib)"

    @classmethod
    def fit_or_load(cls, train: list[Item], seed: int = 42, path: Path | None = None) -> "ForestMember":
        import joblib

        from lab.agents.products import fingerprint
        from lab.core.settings import get_settings
        from lab.pricer import baselines

        path = path or get_settings().data_dir / "agents" / "random_forest.joblib"
        fp = fingerprint(train) + f"-{seed}"
        if path.exists():
            try:
                saved = joblib.load(path)
                if saved.get("fingerprint") == fp:
                    return cls(saved["model"], len(train))
            except Exception:  # a damaged or foreign file: refit (the file is only a cache of our own fit)
                pass
        model = baselines.fit("MiniLM + random forest", train, seed)
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump({"model": model, "fingerprint": fp}, path.with_suffix(".tmp"))
        path.with_suffix(".tmp").replace(path)
        return cls(model, len(train))

    def price(self, description: str) -> tuple[float | None, str]:
        from lab.pricer.baselines import predict

        value = predict(self.model, [as_item(description)])[0]
        return value, f"{value:.2f}"


# ---------------------------------------------------------------------------------------------- frontier
class FrontierMember:
    name = "frontier"
    # SmolLM2 on 2 shared cores reads ~100-500 prompt tokens/s: the local model sees each similar product cut to
    # its first 250 characters (title and key specs), so 5 of them cost ~400 tokens, not ~900.
    LOCAL_CONTEXT_CHARS = 250

    def __init__(self, provider: Provider, store, model: str | None = None, k: int = 5) -> None:
        self.provider, self.store, self.model, self.k = provider, store, model, k
        self.cut = self.LOCAL_CONTEXT_CHARS if provider.name == "local" else None
        self.label = f"{provider.name}/{model or provider.default_model} with {k} similar products (chromadb" + (
            f", each cut to {self.cut} characters)" if self.cut else ")"
        )

    def messages(self, description: str) -> list[dict]:
        from lab.pricer.llm import messages_for

        item = as_item(description)
        similar = [
            Item(s.title, s.category, s.price, s.text[: self.cut], 0)
            for s in self.store.similar(item.text, self.k + 1)
            if s.text != item.text
        ][: self.k]
        if self.cut:  # never show a product its own price (above); the question itself is cut less
            item = Item(item.title, "", 0.0, item.text[: 2 * self.cut], 0)
        return messages_for(item, similar)

    def price(self, description: str) -> tuple[float | None, str]:
        reply = run(
            self.provider,
            self.messages(description),
            model=self.model,
            options=Options(temperature=0.0, max_tokens=16, seed=42),
        ).text
        return parse_price(reply), reply


# ---------------------------------------------------------------------------------------------- specialist
_HF_CACHE: dict[str, tuple] = {}
_HF_LOCK = threading.Lock()


def latest_adapter_run(root: Path | None = None) -> Path | None:
    """The newest fine-tune run (CLI's runs, or ``root``) that has a final adapter."""
    from lab.finetune.runner import runs_dir

    try:
        folders = sorted(
            (d for d in runs_dir(root).iterdir() if (d / "adapter" / "adapter_config.json").exists()), reverse=True
        )
    except OSError:
        return None
    return folders[0] if folders else None


class SpecialistMember:
    name = "specialist"

    def __init__(self, source: str = "auto", runs_root: Path | None = None) -> None:
        self.source = source
        self.kind, self.target, self.label = self._resolve(source, runs_root)
        self._remote = None

    @staticmethod
    def _resolve(source: str, runs_root: Path | None) -> tuple[str, str, str]:
        from lab.core import assets

        if source == "modal":
            from lab.finetune.modal_app import HOW_TO_TOKEN, token_configured

            if not token_configured():
                raise MissingKeyError(
                    HOW_TO_TOKEN.replace(
                        "Then run the exported script with `modal run RUN_DIR/modal_app.py`.",
                        "Then: python -m lab agents modal --deploy.",
                    )
                )
            return "modal", SERVICE_APP, f"fine-tuned model on Modal (app {SERVICE_APP}, class Pricer)"
        if source.startswith("gguf:"):
            path = Path(source[5:]).expanduser()
            if not path.is_file():
                raise InputError(f"No GGUF at {path}.")
            return "gguf", str(path), f"GGUF {path.name} via llama.cpp"
        if source.startswith("adapter:") or source == "auto":
            if source == "auto":
                run_dir = latest_adapter_run(runs_root)
            else:
                from lab.finetune.runner import run_path

                run_dir = run_path(source[8:], runs_root)
            if run_dir is not None and (run_dir / "adapter" / "adapter_config.json").exists():
                return "adapter", str(run_dir), f"fine-tune run {run_dir.name} (LoRA adapter, transformers + peft)"
            if source != "auto":
                raise InputError(f"Run {run_dir.name} has no final adapter yet: finish or resume it first.")
        if source not in ("auto", "base"):
            raise InputError(f"Unknown specialist {source!r}: use auto, base, modal, adapter:RUN or gguf:PATH.")
        gguf = assets.smollm2_gguf()
        if gguf is None:
            raise ProviderUnavailable(assets.fix_for("smollm2-gguf"))
        why = "no fine-tune run with an adapter found" if source == "auto" else "asked for the base model"
        return "gguf", str(gguf), f"SmolLM2-135M base GGUF, NOT fine-tuned ({why})"

    def price(self, description: str) -> tuple[float | None, str]:
        prompt = as_item(description).test_prompt()
        if self.kind == "gguf":
            from lab.llm.local import load_llama

            m = load_llama(self.target)
            with m.lock:
                out = m.llm.create_completion(prompt, max_tokens=8, temperature=0.0, seed=42)
            reply = out["choices"][0]["text"]
        elif self.kind == "adapter":
            reply = self._adapter_reply(prompt)
        else:
            if self._remote is None:
                import modal

                self._remote = modal.Cls.from_name(SERVICE_APP, "Pricer")()
            value = self._remote.price.remote(as_item(description).text)
            return (float(value) if value else None), str(value)
        return parse_price(reply), reply

    def _adapter_reply(self, prompt: str) -> str:
        from lab.finetune.evaluate import _generate

        with _HF_LOCK:
            if self.target not in _HF_CACHE:
                from peft import PeftModel

                from lab.finetune.config import RunConfig
                from lab.finetune.trainer import load_model

                run_dir = Path(self.target)
                cfg = RunConfig.from_yaml(run_dir / "config.yaml")
                tok, base = load_model(cfg, "cpu")
                model = PeftModel.from_pretrained(base, str(run_dir / "adapter")).eval()
                _HF_CACHE[self.target] = (tok, model)
            tok, model = _HF_CACHE[self.target]
            return _generate(model, tok, [prompt])[0]
