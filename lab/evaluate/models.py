"""Which models to evaluate, named the way the CLI and the page name them.

    >>> parse("local").label                        # the default local model (LAB_LOCAL_MODEL or the bundled SmolLM2)
    'SmolLM2-135M-Instruct.Q4_1.gguf'
    >>> parse("rung:Q8_0").label                     # a rung of the quantization ladder (see rungs.py)
    'SmolLM2-135M-Instruct.Q4_1-Q8_0.gguf'
    >>> parse("/models/qwen2.5-0.5b-q4_k_m.gguf").provider
    'local'
    >>> s = parse("openai:gpt-4o-mini"); (s.provider, s.model, s.bytes)
    ('openai', 'gpt-4o-mini', None)

``bytes`` is the GGUF's file size (the LLM-Perf chart's bubble); an API model has none we can know. A label is
the file name, never the folder: labels go into the class's shared arena store, and a session's folder is private.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.core.errors import InputError
from lab.llm.base import Provider

REMOTE = ("openai", "anthropic", "ollama", "openai-compatible", "fake")


@dataclass(frozen=True)
class ModelSpec:
    label: str  # what tables, charts and the arena call it
    provider: str  # a lab.llm provider name
    model: str | None = None  # the model id (remote), or the GGUF path (local)
    bytes: int | None = None  # file size of a GGUF
    base_url: str | None = None

    @property
    def is_local(self) -> bool:
        return self.provider == "local"

    @property
    def model_arg(self) -> str | None:
        """What ``lab.llm.run(model=...)`` gets: None for local (the provider holds the path)."""
        return None if self.is_local else self.model

    def build(self, api_key: str | None = None) -> Provider:
        from lab.llm import get_provider

        return get_provider(self.provider, api_key=api_key, base_url=self.base_url, model=self.model)


def local_spec(path: str | Path) -> ModelSpec:
    path = Path(path).expanduser()
    if not path.is_file():
        raise InputError(f"No such GGUF file: {path}")
    return ModelSpec(path.name, "local", str(path), path.stat().st_size)


def parse(spec: str, base_url: str | None = None) -> ModelSpec:
    """``local`` | ``rung:TYPE`` | a ``.gguf`` path | ``provider:model`` (see the module docstring)."""
    spec = (spec or "").strip()
    if not spec:
        raise InputError(
            "Name a model: 'local', a .gguf path, 'rung:Q8_0' or 'provider:model' (e.g. openai:gpt-4o-mini)."
        )
    if spec == "local":
        from lab.llm.local import default_model_path

        return local_spec(default_model_path())
    head, sep, rest = spec.partition(":")
    if sep and head == "rung":
        from lab.evaluate import rungs

        return local_spec(rungs.ensure([rest])[0])
    if sep and head in REMOTE:
        if not rest:
            raise InputError(f"Say which {head} model, e.g. {head}:{'gpt-4o-mini' if head == 'openai' else 'NAME'}.")
        return ModelSpec(f"{head}:{rest}", head, rest, None, base_url)
    if spec.endswith(".gguf"):
        return local_spec(spec)
    raise InputError(
        f"Unknown model {spec!r}: use 'local', a .gguf path, 'rung:Q8_0' or 'provider:model' with a "
        f"provider among {', '.join(REMOTE[:-1])}."
    )


def parse_list(specs: str | list[str], base_url: str | None = None) -> list[ModelSpec]:
    items = [s for s in (specs.split(",") if isinstance(specs, str) else specs) if s.strip()]
    out = [parse(s, base_url) for s in items]
    if not out:
        raise InputError("Give at least one model, e.g. --models local,rung:Q8_0.")
    labels = [m.label for m in out]
    if len(set(labels)) != len(labels):
        raise InputError(f"The same model is named twice: {', '.join(labels)}.")
    return out


def local_candidates(uploads: Path | None = None) -> list[ModelSpec]:
    """Every local GGUF a page can offer: the bundled model, the models folder, the ladder's rungs, uploads."""
    from lab.evaluate import rungs
    from lab.gguf.models import list_models

    paths = [m.path for m in list_models(uploads)] + rungs.existing()
    seen, out = set(), []
    for p in paths:
        if p.name not in seen:  # labels are file names: keep the first of two files with one name
            seen.add(p.name)
            out.append(local_spec(p))
    return out
