"""The messenger agent: a one-line message written by a model, delivered to an inbox and, when set, to a phone.

Delivery channels, each independent (one failing never stops the others, and its failure is logged):
- **inbox**: always; a JSON file beside the memory (the page's "Inbox" tab, ``python -m lab agents memory``);
- **ntfy**: when ``NTFY_TOPIC`` is set: POST the text to ``NTFY_URL`` (default https://ntfy.sh) + ``/<topic>``;
- **Pushover**: when ``PUSHOVER_USER`` and ``PUSHOVER_TOKEN`` are set (the course's channel).
Pushes go through the guarded fetcher's checks (``lab.agents.net``): a loopback or private address is refused
unless allowed (tests allow ``127.0.0.0/8`` for their loopback webhook).

The model writes only the hook; the facts (price, estimate, link) are appended by the lab, so a small model's
slip cannot change a number the user acts on:

    >>> compose("Big savings on Sony noise cancelling headphones!", 279.99, 348.0, "https://d.example/sony")
    'Big savings on Sony noise cancelling headphones! $279.99 (estimate $348.00) https://d.example/sony'
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Iterable

from lab.agents.framework import Agent
from lab.core.errors import LabError
from lab.llm.base import Options, Provider, run

PUSHOVER_URL = "https://api.pushover.net/1/messages.json"
NTFY_URL = "https://ntfy.sh"
SYSTEM = "You write push notifications about bargains. Reply with one short, exciting sentence and nothing else."


def compose(line: str, price: float, estimate: float, url: str) -> str:
    return f"{line} ${price:,.2f} (estimate ${estimate:,.2f}) {url}"


def first_line(text: str, limit: int = 160) -> str:
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    return line.strip("\"' ")[:limit]


def channels() -> list[str]:
    """Which push channels are configured (never the keys themselves)."""
    out = []
    if os.environ.get("NTFY_TOPIC"):
        out.append("ntfy")
    if os.environ.get("PUSHOVER_USER") and os.environ.get("PUSHOVER_TOKEN"):
        out.append("pushover")
    return out


class Inbox:
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def load(self) -> list[dict]:
        try:
            rows = json.loads(self.path.read_text(encoding="utf-8"))
            return rows if isinstance(rows, list) else []
        except (OSError, ValueError):
            return []

    def add(self, row: dict) -> None:
        with self._lock:
            rows = self.load() + [row]
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.path.with_name(f"{self.path.name}.tmp{os.getpid()}.{threading.get_ident()}")
            tmp.write_text(json.dumps(rows[-200:], indent=1, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, self.path)

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


class MessagingAgent(Agent):
    name = "Messaging Agent"
    color = "white"

    def __init__(
        self,
        inbox: Inbox,
        provider: Provider | None = None,
        log=None,
        *,
        model: str | None = None,
        allow_networks: Iterable[str] = (),
        ntfy_url: str | None = None,
    ) -> None:
        super().__init__(log)
        self.inbox, self.provider, self.model = inbox, provider, model
        self.allow_networks = list(allow_networks)
        self.ntfy_url = ntfy_url or os.environ.get("NTFY_URL") or NTFY_URL
        self.pushover_url = os.environ.get("PUSHOVER_URL") or PUSHOVER_URL

    def craft(self, description: str, price: float, estimate: float) -> str:
        """One line from the model; when it writes nothing usable, a plain line (and the log says so)."""
        line = ""
        if self.provider is not None:
            prompt = (
                f"Summarize this deal in one exciting sentence of at most 20 words for a push notification.\n"
                f"Item: {description[:400]}\nOffered price: ${price:,.2f}\nEstimated true value: ${estimate:,.2f}"
            )
            try:
                line = first_line(
                    run(
                        self.provider,
                        [{"role": "system", "content": SYSTEM}, {"role": "user", "content": prompt}],
                        model=self.model,
                        options=Options(temperature=0.0, max_tokens=48, seed=42),
                    ).text
                )
            except LabError as e:
                self.log(f"the model could not write the message ({e}); using the plain line")
        if not line:
            line = f"Deal: {description[:80]}"
            self.log("no model line; sending the plain line")
        return line

    def notify(self, title: str, description: str, price: float, estimate: float, url: str) -> dict:
        from lab.agents import net

        line = self.craft(description, price, estimate)
        text = compose(line, price, estimate, url)
        sent: list[str] = ["inbox"]
        errors: dict[str, str] = {}
        self.inbox.add(
            {
                "title": title,
                "text": text,
                "price": price,
                "estimate": estimate,
                "url": url,
                "when": time.strftime("%Y-%m-%d %H:%M:%S"),
            }
        )
        topic = os.environ.get("NTFY_TOPIC")
        if topic:
            try:
                net.request(
                    "POST",
                    f"{self.ntfy_url.rstrip('/')}/{topic}",
                    data=text.encode(),
                    headers={"Title": "Deal alert", "Tags": "moneybag"},
                    allow_networks=self.allow_networks,
                )
                sent.append("ntfy")
            except LabError as e:
                errors["ntfy"] = str(e)
        if os.environ.get("PUSHOVER_USER") and os.environ.get("PUSHOVER_TOKEN"):
            try:
                net.request(
                    "POST",
                    self.pushover_url,
                    data={
                        "user": os.environ["PUSHOVER_USER"],
                        "token": os.environ["PUSHOVER_TOKEN"],
                        "message": text[:1024],
                        "sound": "cashregister",
                    },
                    allow_networks=self.allow_networks,
                )
                sent.append("pushover")
            except LabError as e:
                errors["pushover"] = str(e)
        for ch, err in errors.items():
            self.log(f"{ch} failed: {err}")
        self.log(f"sent to {', '.join(sent)}: {text[:120]}")
        return {"title": title, "url": url, "text": text, "channels": sent, "errors": errors}
