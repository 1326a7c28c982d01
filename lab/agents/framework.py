"""What every agent shares: a name, a colour, a log; and the memory of deals already surfaced.

The course's ``Agent`` logs ``[Scanner Agent] ...`` in an ANSI colour through ``logging``, and its Gradio app
turns the colours into HTML. Here a log line is data (``LogLine``: agent, colour, message, time), sent to a
``Log`` that keeps the lines and calls a listener for each (the page writes them live, the CLI prints them):

    >>> log = Log()
    >>> class Scanner(Agent):
    ...     name, color = "Scanner Agent", "cyan"
    >>> Scanner(log).log("fetched 51 entries")
    >>> log.lines[0].agent, log.lines[0].message, log.lines[0].hex
    ('Scanner Agent', 'fetched 51 entries', '#00dddd')

``Memory`` is the course's ``memory.json``: the opportunities surfaced so far. A deal is known by its canonical
URL (scheme, host, path: feeds add ``?iref=rss-c142`` tracking tails, so the same deal from two feeds has two
links), and a surfaced deal is never surfaced again. One memory per browser session (a JSON file in that
session's folder, ``lab.sessions``); the CLI keeps its own under ``<data_dir>/agents/``.

    >>> canonical_url("https://deals.example.com/products/sony.html?iref=rss-c142#top")
    'https://deals.example.com/products/sony.html'
"""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import urlsplit, urlunsplit

# The course's colours (ANSI foreground on black) and the HTML colours its log_utils maps them to.
COLORS = {
    "red": "#dd0000",
    "green": "#00dd00",
    "yellow": "#dddd00",
    "blue": "#4a7dff",
    "magenta": "#aa00dd",
    "cyan": "#00dddd",
    "white": "#87ceeb",
    "orange": "#ff7800",
}
ANSI = {"red": 31, "green": 32, "yellow": 33, "blue": 34, "magenta": 35, "cyan": 36, "white": 37, "orange": 33}


@dataclass
class LogLine:
    agent: str
    color: str
    message: str
    t: float = field(default_factory=time.time)

    @property
    def hex(self) -> str:
        return COLORS.get(self.color, "#cccccc")

    def ansi(self) -> str:
        """The course's terminal look: ``[Agent] message`` in the agent's colour on black."""
        return f"\033[40m\033[{ANSI.get(self.color, 37)}m[{self.agent}] {self.message}\033[0m"

    def to_dict(self) -> dict:
        return {"agent": self.agent, "message": self.message, "color": self.color, "t": round(self.t, 3)}


class Log:
    """The lines of one cycle, in order; ``listener`` sees each as it is written (thread-safe)."""

    def __init__(self, listener: Callable[[LogLine], None] | None = None) -> None:
        self.lines: list[LogLine] = []
        self.listener = listener
        self._lock = threading.Lock()

    def write(self, agent: str, color: str, message: str) -> None:
        line = LogLine(agent, color, message)
        with self._lock:
            self.lines.append(line)
        if self.listener:
            self.listener(line)

    def to_list(self) -> list[dict]:
        return [ln.to_dict() for ln in self.lines]


class Agent:
    """A named, coloured participant that writes to a shared ``Log``."""

    name = "Agent"
    color = "white"

    def __init__(self, log: Log | None = None) -> None:
        self._log = log or Log()

    def log(self, message: str) -> None:
        self._log.write(self.name, self.color, message)


def canonical_url(url: str) -> str:
    """A deal's identity: scheme, host and path, lower-cased host, no query or fragment, no trailing slash."""
    p = urlsplit(url.strip())
    return urlunsplit((p.scheme.lower(), p.netloc.lower(), p.path.rstrip("/") or "/", "", ""))


# ---------------------------------------------------------------------------------------------- memory
def cli_memory_path() -> Path:
    from lab.core.settings import get_settings

    return get_settings().data_dir / "agents" / "memory.json"


class Memory:
    """Opportunities surfaced so far, as dicts (title, url, price, estimate, discount, members, when)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> list[dict]:
        """What was surfaced, oldest first; a missing or damaged file reads as empty (it is only a memory)."""
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return []
        return [r for r in rows if isinstance(r, dict) and r.get("url")] if isinstance(rows, list) else []

    def urls(self) -> set[str]:
        return {canonical_url(r["url"]) for r in self.load()}

    def _save(self, rows: list[dict]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.path)  # write then rename: a reader never sees half a file

    def add(self, opportunities: list[dict]) -> int:
        """Remember these; returns how many were new (a URL already known is not added twice)."""
        with self._lock:
            rows = self.load()
            known = {canonical_url(r["url"]) for r in rows}
            new = [
                dict(o, when=o.get("when") or time.strftime("%Y-%m-%d %H:%M:%S"))
                for o in opportunities
                if canonical_url(o["url"]) not in known
            ]
            if new:
                self._save(rows + new)
            return len(new)

    def forget(self, url: str) -> bool:
        with self._lock:
            rows = self.load()
            kept = [r for r in rows if canonical_url(r["url"]) != canonical_url(url)]
            if len(kept) != len(rows):
                self._save(kept)
            return len(kept) != len(rows)

    def clear(self) -> int:
        with self._lock:
            n = len(self.load())
            self._save([])
            return n
