"""The scanner agent: read the feeds, drop what was already surfaced, let a model pick the best deals, check them.

The model answers with the course's ``DealSelection`` (``lab.prompting``: pydantic, one repair attempt, llama.cpp
decodes locally under the JSON Schema). The schema sent is narrowed for this request: each deal's ``url`` must be
one of the candidates' URLs (an ``enum``), so even SmolLM2 cannot invent a link. Then every pick is checked
against its own feed entry, never trusted:

    >>> check_pick(FeedDeal("Echo Show 8 for $104.99", "https://d.example/echo", "Smart display."), 104.99)
    ''
    >>> check_pick(FeedDeal("Echo Show 8 for $104.99", "https://d.example/echo", "Smart display."), 99.0)
    'its price $99.00 is not in its text'
    >>> check_pick(FeedDeal("Anker power bank: $40 off", "https://d.example/anker", "Save $40."), 40)
    "$40.00 is a discount ('$40 off'), not a price"

Before any model reads them, deals whose text states no price at all (none, or only a discount) are dropped
by rule, each with a log line: no pick of theirs could pass that check. The local model then reads each
remaining deal in a compact form (title, the start of its details, its canonical URL): ~20 priced deals in
~1,500 tokens, where 17 full entries, priced or not, took ~2,400 (reading is most of a scan's time on 2 cores):

    >>> unpriced(FeedDeal("Arlo Pro 5S: up to 35% off", "https://d.example/arlo", "Prices vary by bundle."))
    'no price in its text'
    >>> print(compact(FeedDeal("Echo Show 8", "https://d.example/echo?iref=rss", "Smart display with an "
    ...     "8-inch screen, spatial audio and a camera, for $104.99 at Amazon."), 40))
    Title: Echo Show 8
    Details: Smart display with an 8-inch screen… for $104.99 at Amazon.
    URL: https://d.example/echo

A dropped pick is logged with its reason. When the model's valid picks are fewer than asked, the rest are chosen
by a rule, and labelled so (``source: "rule"``): deals whose *title* ends in "for $PRICE" (the deal sites'
convention), price read from that title. Nothing is invented: every price shown is a number in the deal's text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from lab.agents.feeds import FeedDeal, bundled_feeds, read_feeds
from lab.agents.framework import Agent
from lab.core.errors import LabError
from lab.llm.base import Options, Provider

SYSTEM_PROMPT = (
    "You identify and summarize the most detailed deals from a list, by selecting deals that have the most "
    "detailed, high quality description and the most clear price. Respond strictly in JSON with no explanation. "
    "Give the price as a number from the deal's text. If the price of a deal isn't clear, do not include that "
    'deal. Products described as "$XXX off" or "save $XXX" do not state their price: leave them out.'
)
USER_PREFIX = (
    "Respond with the most promising {n} deals from this list, selecting those which have the most "
    "detailed product description and a clear price greater than 0. Summarize the product itself in "
    "product_description, not the terms of the deal.\n\nDeals:\n\n"
)
DOLLARS = re.compile(r"\$\s?(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)")
TITLE_PRICE = re.compile(r"\bfor \$(\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*$")
# Prompt budget in characters. SmolLM2 reads ~120-300 prompt tokens/s on 2 shared cores, so reading is most of a
# scan: 4,500 characters of compact entries are ~1,500 tokens, ~20 priced deals (7,000 full ones were ~2,400
# tokens for 17 deals, some without a price).
LOCAL_PROMPT_CHARS = 4_500
REMOTE_PROMPT_CHARS = 40_000
DEAL_CHARS = 300
# SmolLM2 writes ~30-50 tok/s on 2 cores, and its summaries often repeat a phrase until the cap: the cap bounds a
# scan's writing time (150 characters: ~600 tokens for 5 deals, ~20 s; 100: ~400).
LOCAL_SUMMARY_CHARS = 100
LOCAL_DETAILS_CHARS = 60  # a compact entry (title, this much of the details, canonical URL) is ~70 tokens


@dataclass
class PickedDeal:
    title: str
    url: str
    price: float
    description: str
    source: str = "model"  # model | rule
    category: str = ""

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "url": self.url,
            "price": self.price,
            "description": self.description,
            "source": self.source,
            "category": self.category,
        }


@dataclass
class ScanResult:
    deals: list[PickedDeal] = field(default_factory=list)
    dropped: list[dict] = field(default_factory=list)  # {"title", "reason"}
    entries: int = 0  # feed entries read
    distinct: int = 0  # after merging deals listed in several feeds
    candidates: list[FeedDeal] = field(default_factory=list)  # distinct and not surfaced before
    priced: int = 0  # candidates whose text states a price (the others are dropped before the model reads)
    shown: int = 0  # priced candidates the model read
    problems: list[str] = field(default_factory=list)
    model_reply: str = ""

    def to_dict(self) -> dict:
        return {
            "deals": [{"title": d.title, "url": d.url, "price": d.price, "source": d.source} for d in self.deals],
            "dropped": self.dropped,
            "entries": self.entries,
            "distinct": self.distinct,
            "new": len(self.candidates),
            "priced": self.priced,
            "shown_to_model": self.shown,
            "problems": self.problems,
        }


def _is_discount(text: str, m: re.Match) -> bool:
    after, before = text[m.end() : m.end() + 5].lower(), text[max(0, m.start() - 6) : m.start()].lower()
    return after.lstrip().startswith("off") or before.rstrip().endswith(("save", "take"))


def amounts(text: str) -> list[tuple[float, bool]]:
    """Every dollar amount in ``text`` with whether it reads as a discount ('$40 off', 'save $40')."""
    return [(float(m.group(1).replace(",", "")), _is_discount(text, m)) for m in DOLLARS.finditer(text)]


def unpriced(deal: FeedDeal) -> str:
    """Why no pick of this deal could pass ``check_pick`` ('' when its text states a price)."""
    found = amounts(deal.text)
    if not found:
        return "no price in its text"
    return "its text states only a discount ('$X off'), no price" if all(d for _, d in found) else ""


def compact(deal: FeedDeal, chars: int = LOCAL_DETAILS_CHARS) -> str:
    """One deal as the local model reads it: title, the details cut at a word after ``chars`` characters (plus
    the phrase stating the price when neither shows one), and the canonical URL (no tracking tail)."""
    details = deal.summary
    if len(details) > chars:
        details = details[:chars].rsplit(" ", 1)[0].rstrip(",;: ") + "…"
        if all(d for _, d in amounts(f"{deal.title}\n{details}")):
            m = next((m for m in DOLLARS.finditer(deal.summary) if not _is_discount(deal.summary, m)), None)
            if m is not None:
                start = deal.summary.rfind(" ", 0, max(0, m.start() - 4)) + 1
                end = deal.summary.find(" ", m.end() + 10)
                details += " " + deal.summary[start : end if end > 0 else None].rstrip(" ,;")
    return f"Title: {deal.title}\nDetails: {details}\nURL: {deal.key}"


def check_pick(deal: FeedDeal, price: float) -> str:
    """'' when ``price`` is a price stated in the deal's own text; else the reason to drop it."""
    if not price or price <= 0:
        return "its price is not positive"
    found = [disc for value, disc in amounts(deal.text) if abs(value - price) < 0.005]
    if not found:
        return f"its price ${price:,.2f} is not in its text"
    if all(found):
        return f"${price:,.2f} is a discount ('${price:,.0f} off'), not a price"
    return ""


def title_price(deal: FeedDeal) -> float | None:
    m = TITLE_PRICE.search(deal.title)
    return float(m.group(1).replace(",", "")) if m else None


def interleave(deals: list[FeedDeal]) -> list[FeedDeal]:
    """Round-robin over feeds, so a prompt cut short still mixes the categories."""
    by_feed: dict[str, list[FeedDeal]] = {}
    for d in deals:
        by_feed.setdefault(d.feed, []).append(d)
    out, queues = [], list(by_feed.values())
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def selection_schema(urls: list[str], n: int, summary_chars: int | None = None) -> dict:
    """The course's DealSelection schema, with ``url`` narrowed to these URLs and at most ``n`` deals
    (``summary_chars``: a shorter cap on each product_description)."""
    from lab.prompting.structured import DealSelection

    schema = DealSelection.model_json_schema()
    deal = schema["$defs"]["Deal"]
    deal["properties"]["url"] = {"type": "string", "enum": urls, "description": "The URL of the deal, as given."}
    if summary_chars:
        deal["properties"]["product_description"]["maxLength"] = summary_chars
    schema["properties"]["deals"]["maxItems"] = n
    return schema


class ScannerAgent(Agent):
    name = "Scanner Agent"
    color = "cyan"

    def __init__(self, log=None, *, sources: Iterable[str | Path] | None = None, allow_networks: Iterable[str] = ()):
        super().__init__(log)
        self.sources = list(sources) if sources is not None else bundled_feeds()
        self.allow_networks = list(allow_networks)

    def fetch(self, known: set[str], result: ScanResult) -> list[FeedDeal]:
        """Feed entries -> distinct deals not surfaced before (``known``: canonical URLs)."""
        self.log(f"reading {len(self.sources)} feed(s)")
        entries, result.problems = read_feeds(self.sources, allow_networks=self.allow_networks, on_problem=self.log)
        distinct: dict[str, FeedDeal] = {}
        for e in entries:
            distinct.setdefault(e.key, e)
        result.entries, result.distinct = len(entries), len(distinct)
        new = []
        for d in distinct.values():
            if d.key in known:
                result.dropped.append({"title": d.title, "reason": "already surfaced"})
            else:
                new.append(d)
        self.log(
            f"{len(entries)} entries, {len(distinct)} distinct deals ({len(entries) - len(distinct)} listed in "
            f"more than one feed), {len(new)} not surfaced before"
        )
        return new

    def prompt(self, deals: list[FeedDeal], n: int, budget: int, details: int = DEAL_CHARS) -> tuple[str, list]:
        head, body, shown = USER_PREFIX.format(n=n), [], []
        used = len(SYSTEM_PROMPT) + len(head)
        for d in interleave(deals):
            text = compact(d, details)
            if used + len(text) + 2 > budget:
                break
            body.append(text)
            shown.append(d)
            used += len(text) + 2
        return head + "\n\n".join(body) + f"\n\nInclude at most {n} deals.", shown

    def scan(
        self,
        provider: Provider,
        *,
        known: set[str] = frozenset(),
        n: int = 5,
        model: str | None = None,
        top_up: bool = True,
    ) -> ScanResult:
        from lab.prompting.structured import Schema, structured

        result = ScanResult()
        result.candidates = self.fetch(set(known), result)
        if not result.candidates:
            self.log("no new deals to consider")
            return result
        priced = []
        for d in result.candidates:
            why = unpriced(d)
            if why:
                result.dropped.append({"title": d.title, "reason": why})
                self.log(f"dropped '{d.title[:60]}' before asking the model: {why}")
            else:
                priced.append(d)
        result.priced = len(priced)
        if not priced:
            self.log("no new deal states a price")
            return result
        local = provider.name == "local"
        budget = LOCAL_PROMPT_CHARS if local else REMOTE_PROMPT_CHARS
        user, shown = self.prompt(priced, n, budget, LOCAL_DETAILS_CHARS if local else DEAL_CHARS)
        result.shown = len(shown)
        if len(shown) < len(priced):
            self.log(
                f"the model reads {len(shown)} of {len(priced)} new priced deals (prompt budget of "
                f"{budget:,} characters for {provider.name})"
            )
        by_key = {d.key: d for d in shown}
        schema = Schema.from_model(
            _selection_model(), selection_schema([d.key for d in shown], n, LOCAL_SUMMARY_CHARS if local else None)
        )
        self.log(f"asking {provider.name} for the best {n} deals as a DealSelection (structured output)")
        picks: list[dict] = []
        try:
            got = structured(
                provider,
                [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}],
                schema,
                model=model,
                options=Options(temperature=0.0, max_tokens=1200, seed=42),
            )
            result.model_reply = got.attempts[-1] if got.attempts else ""
            if got.ok:
                picks = got.value["deals"]
                self.log(f"the model picked {len(picks)} deal(s){' after one repair' if got.repaired else ''}")
            else:
                self.log(f"the reply did not validate even after one repair: {got.errors[-1][:200]}")
        except LabError as e:
            self.log(f"the model could not be asked: {e}")
        from lab.agents.framework import canonical_url

        seen: set[str] = set()
        picked: set[str] = set()
        for p in picks:
            deal = by_key.get(canonical_url(p["url"]))
            title = deal.title if deal else p["url"]
            reason = (
                "its URL is not one of the deals shown"
                if deal is None
                else "picked twice"
                if deal.key in picked
                else check_pick(deal, float(p["price"]))
            )
            if deal is not None:
                picked.add(deal.key)
            if reason:
                result.dropped.append({"title": title, "reason": reason})
                self.log(f"dropped '{title[:60]}': {reason}")
                continue
            seen.add(deal.key)
            result.deals.append(
                PickedDeal(
                    deal.title,
                    deal.url,
                    float(p["price"]),
                    (p.get("product_description") or "").strip() or deal.summary[:DEAL_CHARS],
                    "model",
                    deal.category,
                )
            )
        if top_up and len(result.deals) < n:
            extra = [
                (d, title_price(d))
                for d in interleave(result.candidates)
                if d.key not in seen | picked and title_price(d)
            ]
            extra = [(d, p) for d, p in extra if not check_pick(d, p)][: n - len(result.deals)]
            for d, price in extra:
                seen.add(d.key)
                result.deals.append(PickedDeal(d.title, d.url, price, d.summary[:DEAL_CHARS], "rule", d.category))
            if extra:
                self.log(f"{len(extra)} more deal(s) chosen by rule (title ends 'for $PRICE'), labelled 'rule'")
        self.log(
            f"selected {len(result.deals)} deal(s): "
            + "; ".join(f"{d.title[:40]} ${d.price:,.2f}" for d in result.deals)
        )
        return result


def _selection_model():
    from lab.prompting.structured import DealSelection

    return DealSelection
