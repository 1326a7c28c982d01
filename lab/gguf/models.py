"""Which GGUFs can be run: the bundled SmolLM2, the models folder, an upload, a file from the Hugging Face Hub.

Hub downloads (public) land in the shared models folder (``get_settings().gguf_dir``, default
``<data_dir>/models``); the app saves a student's upload in that session's own folder instead (``folder=``, see
``lab.sessions``) and lists it for that session only (``list_models(uploads=...)``). Either way a file is
written to a temporary ``.part`` file first, checked, then renamed: an upload cut off half-way, a file over the
size cap or a download that fails never leaves a half-written ``.gguf`` behind for the next learner to pick.
An upload into a session's folder also counts against that session's total (``LAB_SESSION_QUOTA_MB``, checked
as the bytes stream in), so one session cannot fill the disk the whole class shares.

    >>> [m.name for m in list_models()]
    ['SmolLM2-135M-Instruct.Q4_1.gguf']
    >>> save_upload(open("notes.txt", "rb"), "notes.gguf")
    Traceback (most recent call last):
    ...
    lab.core.errors.InputError: notes.gguf is not a GGUF file (it starts with b'Shop', not b'GGUF').
    >>> download("bartowski/SmolLM2-135M-Instruct-GGUF", "SmolLM2-135M-Instruct-Q8_0.gguf")   # online only
    PosixPath('~/.cache/llm-engineering-lab/models/SmolLM2-135M-Instruct-Q8_0.gguf')
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from lab.core.errors import InputError, ProviderUnavailable
from lab.core.gguf_check import check_gguf_file
from lab.core.hub import hub_offline
from lab.core.settings import get_settings

MAX_UPLOAD_BYTES = 2 * 2**30  # 2 GiB: a 3B model at Q4 fits; larger files are better copied into the folder
CHUNK = 8 * 2**20  # copy 8 MiB at a time: memory stays flat whatever the file size


@dataclass
class ModelFile:
    name: str
    path: Path
    bytes: int
    source: str  # "bundled" | "models folder" | "your upload"

    @property
    def label(self) -> str:
        return f"{self.name} ({self.bytes / 2**20:,.0f} MB, {self.source})"


def models_dir() -> Path:
    return get_settings().gguf_dir


def list_models(uploads: Path | None = None) -> list[ModelFile]:
    """The bundled SmolLM2 first, then every ``*.gguf`` in the models folder, then those in ``uploads`` (one
    session's own uploads), each group by name."""
    from lab.core import assets

    out = []
    bundled = assets.smollm2_gguf()
    if bundled:
        out.append(ModelFile(bundled.name, bundled, bundled.stat().st_size, "bundled"))
    for folder, source in ((models_dir(), "models folder"), (uploads, "your upload")):
        if folder is not None and folder.is_dir():
            for p in sorted(folder.glob("*.gguf")):
                out.append(ModelFile(p.name, p, p.stat().st_size, source))
    return out


def _safe_name(filename: str) -> str:
    """Keep only the base name, in a conservative alphabet; it must end in .gguf."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename or "").name).lstrip(".")
    if not name.lower().endswith(".gguf") or len(name) <= len(".gguf"):
        raise InputError(f"{filename!r} does not look like a GGUF file name: it should end in .gguf.")
    return name


def save_upload(
    stream: BinaryIO, filename: str, *, max_bytes: int = MAX_UPLOAD_BYTES, folder: Path | None = None
) -> Path:
    """Copy ``stream`` into ``folder`` (default: the models folder) as ``filename``: chunked, size-capped,
    checked, then renamed. On any failure the ``.part`` file is removed: nothing is left behind.

    When ``folder`` lies in a session's folder, the session's quota applies too: what it already keeps plus
    this file (less a same-named file it replaces) must stay within ``LAB_SESSION_QUOTA_MB``."""
    from lab.classroom import sessions

    name = _safe_name(filename)
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    owner = sessions.owner_of(folder)  # None: shared models folder, no session quota
    used = sessions.usage_bytes(owner) if owner else 0  # measured once, before the .part file exists
    replacing = target.stat().st_size if owner and target.is_file() and not target.is_symlink() else 0
    tmp = folder / f".{name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.part"  # two saves at once never share one
    written = 0
    try:
        with open(tmp, "wb") as out:
            while chunk := stream.read(CHUNK):
                written += len(chunk)
                if written > max_bytes:
                    raise InputError(
                        f"{name} is over the upload cap of {max_bytes / 2**20:,.0f} MB. Copy large "
                        f"models straight into {folder} instead (the page lists every .gguf there)."
                    )
                if owner:
                    sessions.check_room(folder, written, used=used, replacing=replacing, what=f"Saving {name}")
                out.write(chunk)
        check_gguf_file(tmp)  # refuses non-GGUF, damaged and truncated files
        os.replace(tmp, target)
    except InputError as e:
        raise InputError(str(e).replace(tmp.name, name)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return target


def download(
    repo_id: str, filename: str, *, progress: Callable[[int, int], None] | None = None, folder: Path | None = None
) -> Path:
    """Fetch ``filename`` from Hub repo ``repo_id`` into the models folder (needs network; checked after)."""
    import huggingface_hub
    from huggingface_hub import errors

    name = _safe_name(filename)
    folder = folder or models_dir()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        # huggingface_hub writes to an .incomplete file and renames it when whole, like save_upload.
        path = Path(
            huggingface_hub.hf_hub_download(
                repo_id, filename, local_dir=folder, tqdm_class=_tqdm_for(progress) if progress else None
            )
        )
    except (errors.OfflineModeIsEnabled, errors.LocalEntryNotFoundError) as e:
        # With HF_HUB_OFFLINE=1 the client looks only in its local cache and says LocalEntryNotFound.
        if hub_offline() or isinstance(e, errors.OfflineModeIsEnabled):
            raise ProviderUnavailable(
                "The Hugging Face Hub is switched off here (HF_HUB_OFFLINE=1): use the bundled "
                "model or the models folder, or unset HF_HUB_OFFLINE where there is network."
            ) from e
        raise ProviderUnavailable(
            f"Cannot reach the Hugging Face Hub to fetch {repo_id}/{filename}: check the network."
        ) from e
    except (errors.RepositoryNotFoundError, errors.GatedRepoError) as e:
        raise InputError(f"No public Hub repo {repo_id!r} (or it needs a token: set HF_TOKEN).") from e
    except errors.EntryNotFoundError as e:
        raise InputError(f"{repo_id} has no file {filename!r}: check the name on the repo's 'Files' tab.") from e
    except OSError as e:  # connection refused, DNS, disk full
        raise ProviderUnavailable(
            f"Could not fetch {repo_id}/{filename} from the Hugging Face Hub: "
            f"{type(e).__name__}: {e}. Check the network and the free disk space."
        ) from e
    if path.name != name:  # a file in a repo subfolder: keep every GGUF at the top of the models folder
        shutil.move(path, folder / name)
        path = folder / name
    try:
        check_gguf_file(path)
    except InputError:
        path.unlink(missing_ok=True)
        raise
    return path


def _tqdm_for(progress: Callable[[int, int], None]):
    """A tqdm class that reports (bytes done, bytes total) to ``progress``: how the Hub client shows progress."""
    from tqdm import tqdm

    class _Report(tqdm):
        def update(self, n=1):
            out = super().update(n)
            progress(int(self.n), int(self.total or 0))
            return out

    return _Report
