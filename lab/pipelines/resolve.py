"""Which model will a task load? A Hub id (online), a shipped stand-in (offline), or a tiny untrained model.

``resolve(task, model=None, tiny=False)`` answers before anything is loaded, so a page can say "this will load
dbmdz/bert-large... (1.3 GB)" or "the Hub is unreachable: here is the fix" without importing transformers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lab.core import assets
from lab.core.errors import InputError
from lab.core.hub import hub_cache_dir, hub_reachable, in_hub_cache
from lab.pipelines.tasks import UNTRAINED_NOTE, HubUnreachable, TaskSpec, spec_of
from lab.pipelines.tiny import tiny_model_dir


@dataclass
class Resolved:
    ref: str  # what pipeline(model=...) receives: a Hub id or a folder
    label: str  # what to show: the Hub id, or a name for a local model
    source: str  # "hub" | "hub-cache" | "local" | "offline" | "tiny"
    note: str = ""

    @property
    def untrained(self) -> bool:
        return self.source == "tiny"


def offline_model(spec: TaskSpec, *, prepare: bool = True) -> tuple[Path, str] | None:
    """The shipped model that stands in for ``spec``'s default when the Hub is unreachable (None: no stand-in).

    SmolLM2's transformers copy is converted from the shipped GGUF on first use (~20 s); ``prepare=False``
    only says where it will be.
    """
    if spec.offline == "smollm2":
        if assets.smollm2_gguf() is None:
            return None
        if not prepare and assets.path_of("smollm2-hf") is None:
            return Path("(converted from the GGUF on first use, ~20 s)"), "SmolLM2-135M-Instruct (offline copy)"
        return assets.smollm2_hf_dir(), "SmolLM2-135M-Instruct (offline copy)"
    if spec.offline.startswith("minilm"):
        d = assets.minilm_dir()
        return (d, "all-MiniLM-L6-v2 (offline copy)") if d else None
    return None


def resolve(task: str, model: str | None = None, *, tiny: bool = False, prepare: bool = True) -> Resolved:
    """Where the model for ``task`` comes from. Only a *default* model is replaced by an offline stand-in.

    >>> resolve("text-generation").source          # with HF_HUB_OFFLINE=1 and gpt2 not cached
    'offline'
    >>> resolve("ner")                              # doctest: +ELLIPSIS
    Traceback (most recent call last):
    lab.pipelines.tasks.HubUnreachable: The Hugging Face Hub is unreachable ... and dbmdz/bert-large-cased-...
    """
    spec = spec_of(task)
    if tiny:
        return Resolved(str(tiny_model_dir(task)), f"tiny untrained {task} model", "tiny", UNTRAINED_NOTE)
    wanted = (model or "").strip() or spec.default_model
    if Path(wanted).expanduser().is_dir():
        folder = Path(wanted).expanduser()
        if not (folder / "config.json").is_file():  # said at once, not after importing transformers (seconds)
            raise InputError(
                f"The folder {wanted} holds no transformers model (no config.json). Give a folder "
                "saved with save_pretrained, or a Hub id such as openai-community/gpt2."
            )
        return Resolved(str(folder), wanted, "local")
    if in_hub_cache(wanted):
        return Resolved(wanted, wanted, "hub-cache", f"{wanted} from the Hugging Face cache ({hub_cache_dir()}).")
    if hub_reachable():
        return Resolved(wanted, wanted, "hub", f"{wanted} from the Hub (downloaded once into {hub_cache_dir()}).")
    if not model or wanted == spec.default_model:
        stand_in = offline_model(spec, prepare=prepare)
        if stand_in:
            path, name = stand_in
            return Resolved(
                str(path),
                name,
                "offline",
                f"The Hub is unreachable, so instead of {wanted} this runs {name}: a real model, shipped with the lab.",
            )
    raise HubUnreachable(
        f"The Hugging Face Hub is unreachable (offline mode or no network) and {wanted} is not in the local cache, "
        f"so the {task} pipeline cannot load it. Fix: run where the Hub is reachable (unset HF_HUB_OFFLINE), "
        f"give a local model folder, or use the tiny untrained model (--tiny / the page's checkbox) to see the "
        f"machinery with random outputs."
    )


def describe(task: str, model: str | None = None, *, tiny: bool = False) -> tuple[bool, str]:
    """One line for the page before anything loads: (can run, where the model will come from / the fix)."""
    try:
        where = resolve(task, model, tiny=tiny, prepare=False)
    except (HubUnreachable, InputError) as e:  # unreachable, or a folder that holds no model
        return False, str(e)
    return True, where.note or f"{where.label} from the folder {where.ref}."
