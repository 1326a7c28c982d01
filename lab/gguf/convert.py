"""A transformers model -> one GGUF file, with llama.cpp's own ``convert_hf_to_gguf.py`` (never re-implemented).

The source can be a transformers folder (config.json + weights + tokenizer), a fine-tune run folder (its LoRA
adapter is merged into the base first, with peft's ``merge_and_unload``), or a Hub id when online. The converter
runs as a subprocess with this venv's python; its log is kept (which tensors, the chat template it carried over).

    >>> r = convert(assets.smollm2_hf_dir(), "smollm2-f16.gguf", outtype="f16")
    >>> r.architecture, r.n_tensors, r.bytes, r.chat_template[:24]
    ('LlamaForCausalLM', 272, 270885856, '{% for message in messag')
    >>> r.tensors[0]          # name, what it was, what it became, GGUF shape
    ('token_embd.weight', 'torch.bfloat16', 'F16', '{576, 49152}')

Before anything runs, the F16 size is estimated from the parameter count (134.5M parameters x 2 bytes = 269 MB for
SmolLM2) and compared with the free disk space. The converter writes ``OUT.partial-<pid>-<random>``, renamed to ``OUT`` only
when it finished: an interrupted or failed conversion never leaves a half-written GGUF under the final name.
One module because the checks, the sources (a run to merge, a Hub download) and the converter are the steps of one
conversion, read top to bottom (``quantize`` reuses its checks); ~375 lines.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from lab.core.errors import InputError, ProviderUnavailable
from lab.core.hub import hub_offline
from lab.core.settings import get_settings

Progress = Callable[[str], None]
FreeBytes = Callable[[Path], int]
# Bytes per parameter of each output type: f16/bf16 store 2 bytes; q8_0 stores blocks of 32 int8 + one f16 scale.
OUTTYPES = {"f16": 2.0, "bf16": 2.0, "q8_0": 34 / 32}
DISK_MARGIN = 1.05  # header, vocabulary, norms kept in F32: a few % over the weights alone
WEIGHT_GLOBS = ("*.safetensors", "pytorch_model*.bin")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model")


# ---------------------------------------------------------------------------------------------- temp then rename
@contextmanager
def temp_then_rename(out: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``out``; rename it to ``out`` only if the block finished without error."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # pid + a random part: two threads of one server writing the same name never share a temp file
    tmp = out.with_name(f"{out.name}.partial-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        if not tmp.is_file():
            raise ProviderUnavailable(f"The job ended without writing {out.name}.")
        os.replace(tmp, out)  # atomic on one filesystem: readers see no file or the whole file
    finally:
        tmp.unlink(missing_ok=True)


# ---------------------------------------------------------------------------------------------- checks
def human(n: float) -> str:
    return f"{n / 1e9:.2f} GB" if n >= 1e9 else f"{n / 1e6:.0f} MB"


def check_model_folder(folder: Path) -> list[Path]:
    """The weight files of a transformers model folder; InputError naming what is missing otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(
            f"{folder} is not a folder. Give a transformers model folder, a fine-tune run folder, "
            "or a Hub id such as HuggingFaceTB/SmolLM2-135M-Instruct (online only)."
        )
    if (folder / "adapter_config.json").exists() and not (folder / "config.json").exists():
        raise InputError(
            f"{folder} holds a LoRA adapter, not a whole model: give its fine-tune run folder so the "
            "adapter is merged into its base model first."
        )
    missing = []
    if not (folder / "config.json").is_file():
        missing.append("config.json (the architecture)")
    weights = sorted(p for g in WEIGHT_GLOBS for p in folder.glob(g))
    if not weights:
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not any((folder / t).is_file() for t in TOKENIZER_FILES):
        missing.append("a tokenizer (tokenizer.json or tokenizer.model)")
    if missing:
        raise InputError(
            f"{folder} is not a transformers model folder: missing {', '.join(missing)}. Save one with "
            "model.save_pretrained(DIR) and tokenizer.save_pretrained(DIR)."
        )
    return weights


def count_params(weights: list[Path]) -> int:
    """Parameters, read from the safetensors headers (no tensor is loaded)."""
    from safetensors import safe_open

    n = 0
    for w in weights:
        if w.suffix == ".safetensors":
            with safe_open(str(w), "pt") as f:
                for k in f.keys():
                    shape = f.get_slice(k).get_shape()
                    n += math.prod(shape)
        else:  # a pickle has no cheap header: assume 2 bytes per weight (an fp32 file overestimates: the safe side)
            n += w.stat().st_size // 2
    return n


def estimate_bytes(n_params: int, outtype: str) -> int:
    return int(n_params * OUTTYPES[outtype] * DISK_MARGIN)


def default_free_bytes(path: Path) -> int:
    return shutil.disk_usage(path).free


def check_disk(need: int, where: Path, what: str, free_bytes: FreeBytes | None = None) -> None:
    """Refuse, with the numbers, when ``where`` has less than ``need`` bytes free."""
    free = (free_bytes or default_free_bytes)(where)
    if free < need:
        raise InputError(
            f"Not enough disk space for {what}: it needs about {human(need)} in {where}, but only "
            f"{human(free)} is free. Free some space or choose another output folder."
        )


def check_outtype(outtype: str) -> str:
    t = outtype.lower()
    if t not in OUTTYPES:
        raise InputError(
            f"Unknown --outtype {outtype!r}: the converter writes one of {', '.join(OUTTYPES)}. "
            "Smaller types come from quantizing the F16 file (gguf quantize)."
        )
    return t


# ---------------------------------------------------------------------------------------------- sources
def adapter_dir(path: Path) -> Path | None:
    """The final LoRA adapter of a fine-tune run folder (``<run>/adapter``), or None if ``path`` is no run."""
    path = Path(path)
    if (path / "adapter" / "adapter_config.json").is_file():
        return path / "adapter"
    return None


def run_base_model(run_dir: Path, adapter: Path) -> str:
    """The base the adapter was trained on: the run's config (offline-aware), else the adapter's own record."""
    cfg = run_dir / "config.yaml"
    if cfg.is_file():
        from lab.finetune.config import RunConfig, resolve_base_model

        return resolve_base_model(RunConfig.from_yaml(cfg).base_model)
    return json.loads((adapter / "adapter_config.json").read_text())["base_model_name_or_path"]


def merge_run(
    run_dir: Path, out_dir: Path, progress: Progress | None = None, free_bytes: FreeBytes | None = None
) -> Path:
    """Base model + the run's LoRA adapter -> one plain transformers folder (``W + B·A·alpha/r`` in every layer).

    The base is loaded at its saved precision, never in 4-bit: a QLoRA adapter merges into the full-precision base.
    """
    say = progress or (lambda m: None)
    run_dir = Path(run_dir)
    adapter = adapter_dir(run_dir)
    if adapter is None:
        state = ""
        if (run_dir / "status.json").is_file():
            state = f" (state: {json.loads((run_dir / 'status.json').read_text()).get('state', '?')})"
        raise InputError(f"{run_dir} has no final adapter{state}: finish or resume the run first.")
    base = run_base_model(run_dir, adapter)
    if Path(base).is_dir():
        weights = check_model_folder(Path(base))
        check_disk(sum(w.stat().st_size for w in weights), out_dir.parent, "the merged model", free_bytes)
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    say(f"Loading the base model {base} ...")
    model = AutoModelForCausalLM.from_pretrained(base, dtype="auto")
    say(f"Applying the LoRA adapter {adapter} and merging it into the weights (merge_and_unload) ...")
    with torch.no_grad():
        merged = PeftModel.from_pretrained(model, str(adapter)).merge_and_unload()
    merged.save_pretrained(out_dir)
    tok_src = adapter if any((adapter / t).is_file() for t in TOKENIZER_FILES) else base
    AutoTokenizer.from_pretrained(str(tok_src)).save_pretrained(out_dir)
    say(f"Merged model saved to {out_dir}")
    return out_dir


HUB_ID = re.compile(r"^[\w.-]+/[\w.-]+$")


def download_hub(repo_id: str, progress: Progress | None = None) -> Path:
    """A Hub model's config, tokenizer and safetensors into ``<data_dir>/hub/`` (online only)."""
    say = progress or (lambda m: None)
    if hub_offline():  # HF_HUB_OFFLINE = 1, true, yes or on (an `== "1"` test missed "true")
        raise ProviderUnavailable(
            f"{repo_id} looks like a Hub id, but the Hugging Face Hub is off (HF_HUB_OFFLINE=1, "
            "or no network). Give a local transformers folder, or run online."
        )
    from huggingface_hub import snapshot_download

    dest = get_settings().data_dir / "hub" / repo_id.replace("/", "--")
    say(f"Downloading {repo_id} from the Hugging Face Hub into {dest} (progress bars on the console) ...")
    try:
        snapshot_download(
            repo_id,
            local_dir=str(dest),
            allow_patterns=["*.json", "*.safetensors", "tokenizer.model", "*.jinja", "*.txt"],
        )
    except Exception as e:  # offline, gated, unknown repo: the hub's own message is the useful part
        raise ProviderUnavailable(f"Could not download {repo_id}: {type(e).__name__}: {e}") from e
    return dest


# ---------------------------------------------------------------------------------------------- the converter
@dataclass
class ConvertResult:
    path: Path
    bytes: int
    outtype: str
    source: str
    source_kind: str  # folder | run (merged) | hub
    n_params: int
    architecture: str = ""
    n_tensors: int = 0
    chat_template: str | None = None
    tensors: list[tuple[str, str, str, str]] = field(default_factory=list)  # (name, from, to, shape)
    warnings: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {
            "path": str(self.path),
            "bytes": self.bytes,
            "outtype": self.outtype,
            "source": self.source,
            "source_kind": self.source_kind,
            "n_params": self.n_params,
            "architecture": self.architecture,
            "n_tensors": self.n_tensors,
            "chat_template": self.chat_template,
            "warnings": self.warnings,
            "seconds": round(self.seconds, 1),
        }


TENSOR_LINE = re.compile(r"^INFO:hf-to-gguf:([\w.]+),\s+(\S+) --> (\w+), shape = (\{[^}]*\})")
PCT = re.compile(r"Writing:\s+(\d+)%")


def parse_log(lines: list[str], result: ConvertResult) -> None:
    """Fill architecture, tensors, chat template and warnings from the converter's log lines."""
    template: list[str] | None = None
    for line in lines:
        if template is not None:
            if re.match(r"^(INFO|WARNING|ERROR|DEBUG):", line):
                result.chat_template, template = "\n".join(template), None
            else:
                template.append(line)
                continue
        if m := TENSOR_LINE.match(line):
            result.tensors.append(m.groups())
        elif "Model architecture:" in line:
            result.architecture = line.split("Model architecture:", 1)[1].strip()
        elif "Setting chat_template to " in line:
            template = [line.split("Setting chat_template to ", 1)[1]]
        elif m := re.search(r"n_tensors = (\d+)", line):
            result.n_tensors = int(m.group(1))
        elif line.startswith("WARNING:"):
            result.warnings.append(line.split(":", 2)[-1].strip())
    if template is not None:
        result.chat_template = "\n".join(template)


def run_converter(
    folder: Path, out: Path, outtype: str, progress: Progress | None = None, script: Path | None = None
) -> list[str]:
    """Run ``convert_hf_to_gguf.py FOLDER --outfile OUT --outtype T``; its log lines (progress bars left out)."""
    from lab.gguf.sdist import converter_script

    say = progress or (lambda m: None)
    script = script or converter_script(say)
    cmd = [sys.executable, str(script), str(folder), "--outfile", str(out), "--outtype", outtype]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    # text mode reads "\r" as a line end too, so the converter's tqdm bar arrives as one line per update
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=script.parent
    )
    lines: list[str] = []
    try:
        for raw in proc.stdout:
            line = raw.rstrip("\n")
            if m := PCT.search(line):
                say(f"Writing the GGUF: {m.group(1)}%")
                continue
            if not line.strip():
                continue
            lines.append(line)
            if line.startswith("INFO:hf-to-gguf:") and ("-->" in line or "Model architecture" in line):
                say(line.split(":", 2)[-1].strip())
        proc.wait()
    except BaseException:  # interrupted (Ctrl+C, a stopped page): stop the converter too
        proc.kill()
        proc.wait()
        raise
    if proc.returncode != 0:
        raise InputError(explain_failure(lines, folder))
    return lines


def explain_failure(lines: list[str], folder: Path) -> str:
    """The converter's own words: an architecture it does not know, else its last error line."""
    for line in lines:
        if m := re.search(r"Model (\S+) is not supported", line):
            return (
                f"llama.cpp's converter does not know the architecture {m.group(1)} (from {folder}/config.json): "
                f"'{line.split(':', 2)[-1].strip()}'. Only architectures llama.cpp supports can become GGUF files."
            )
    errors = [ln for ln in lines if ln.startswith("ERROR:") or re.match(r"^\w+(Error|Exception)\b", ln)]
    last = (errors or lines or ["no output"])[-1]
    return f"llama.cpp's converter failed on {folder}: {last.split(':', 2)[-1].strip() if last.startswith('ERROR:') else last}"


def convert(
    src: str | Path,
    out: str | Path,
    outtype: str = "f16",
    progress: Progress | None = None,
    *,
    free_bytes: FreeBytes | None = None,
    script: Path | None = None,
) -> ConvertResult:
    """Convert ``src`` (folder, fine-tune run folder or Hub id) to the GGUF ``out``. See the module docstring."""
    say = progress or (lambda m: None)
    outtype = check_outtype(outtype)
    out = Path(out).expanduser()
    if out.suffix != ".gguf":
        raise InputError(f"The output should be a .gguf file, not {out.name}.")
    out.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    src_s = str(src)
    path = Path(src_s).expanduser()
    with tempfile.TemporaryDirectory(prefix="merge-", dir=out.parent) as tmpdir:
        if path.exists() and adapter_dir(path) is not None:
            kind, folder = "run", merge_run(path, Path(tmpdir) / "merged", say, free_bytes)
        elif path.exists() or not HUB_ID.match(src_s):
            kind, folder = "folder", path
        else:
            kind, folder = "hub", download_hub(src_s, say)
        weights = check_model_folder(folder)
        n_params = count_params(weights)
        need = estimate_bytes(n_params, outtype)
        say(f"{n_params / 1e6:,.1f}M parameters -> about {human(need)} as {outtype.upper()}")
        check_disk(
            need,
            out.parent,
            f"the {outtype.upper()} GGUF ({n_params / 1e6:,.1f}M parameters x {OUTTYPES[outtype]:g} bytes)",
            free_bytes,
        )
        with temp_then_rename(out) as tmp:
            lines = run_converter(folder, tmp, outtype, say, script)
    result = ConvertResult(
        out, out.stat().st_size, outtype, src_s, kind, n_params, log=lines, seconds=time.perf_counter() - t0
    )
    parse_log(lines, result)
    say(f"Wrote {out} ({human(result.bytes)}) in {result.seconds:.0f} s")
    return result
