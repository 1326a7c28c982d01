"""Deal feeds: RSS 2.0 in, ``FeedDeal`` rows out; a feed that fails is skipped with a reason, never guessed at.

Offline, the lab reads the bundled feeds in ``lab/agents/feeds/`` (written for this project in the shape of a
deal site's feed: 51 entries, 47 distinct deals over five categories, some without a clear price, some listed in
two feeds); online, the course's dealnews feeds through the guarded fetcher (``lab.agents.net``).

    >>> deals, problems = read_feeds(bundled_feeds())
    >>> len(deals), problems
    (51, [])
    >>> deals[0].title
    'DeWalt 20V MAX Cordless Drill and Impact Driver Kit for $159'
    >>> deals[0].summary[:40]
    'DeWalt DCK240C2 20V MAX cordless drill/d'

Parsing: the standard library's ElementTree behind ``defusedxml``. A feed is untrusted input: defusedxml refuses
entity-expansion bombs and external entities, and a feed that is not well-formed XML raises at once, so it is
skipped whole (feedparser would "bozo"-recover part of it, and a half-read feed is a guess). RSS 2.0 needs only
``channel/item/{title,link,guid,description,category}``; the HTML inside ``description`` is read with
BeautifulSoup (the course's ``extract``: the text of ``div.snippet.summary`` when there is one).
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Iterable

from lab.agents.framework import canonical_url

# The course's feeds (week 8), read online only.
ONLINE_FEEDS = [
    "https://www.dealnews.com/c142/Electronics/?rss=1",
    "https://www.dealnews.com/c39/Computers/?rss=1",
    "https://www.dealnews.com/f1912/Smart-Home/?rss=1",
]
MAX_ENTRIES = 30  # per feed, as many as a model can read in one prompt
SUMMARY_CHARS = 500  # the course's truncation of details


@dataclass
class FeedDeal:
    title: str
    url: str
    summary: str
    category: str = ""
    feed: str = ""

    @property
    def key(self) -> str:
        return canonical_url(self.url)

    def describe(self) -> str:
        """What the scanner's model reads for one deal (the course's ``ScrapedDeal.describe``)."""
        return f"Title: {self.title}\nDetails: {self.summary}\nURL: {self.url}"

    @property
    def text(self) -> str:
        return f"{self.title}\n{self.summary}"

    def to_dict(self) -> dict:
        return {
            "title": self.title,
            "url": self.url,
            "summary": self.summary,
            "category": self.category,
            "feed": self.feed,
        }


def bundled_feeds() -> list[Path]:
    """The feeds shipped with the lab (package data), sorted by name."""
    folder = resources.files("lab.agents") / "feeds"
    return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".xml"))


def html_text(snippet: str) -> str:
    """The readable text of a description's HTML (the course's ``extract``)."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(snippet or "", "html.parser")
    div = soup.find("div", class_="snippet summary")
    return " ".join((div or soup).get_text(" ", strip=True).split())


def parse_rss(data: bytes | str, source: str = "") -> list[FeedDeal]:
    """Entries of one RSS 2.0 document. Raises ``ValueError`` (with the parser's reason) if it is not one."""
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root = fromstring(data)
    except ParseError as e:
        raise ValueError(f"not well-formed XML ({e})") from None
    except DefusedXmlException as e:
        raise ValueError(f"refused by defusedxml ({type(e).__name__})") from None
    channel = root.find("channel")
    if root.tag != "rss" or channel is None:
        raise ValueError(f"not an RSS 2.0 feed (root element <{root.tag}>)")
    out = []
    for item in channel.findall("item")[:MAX_ENTRIES]:
        title = " ".join((item.findtext("title") or "").split())
        link = (item.findtext("link") or "").strip()
        if not title or not link.startswith(("http://", "https://")):
            continue  # an entry without a title or a web link cannot be a deal anyone can open
        out.append(
            FeedDeal(
                title=title[:200],
                url=link,
                summary=html_text(item.findtext("description") or "")[:SUMMARY_CHARS],
                category=(item.findtext("category") or "").strip(),
                feed=source,
            )
        )
    return out


def read_feeds(
    sources: Iterable[str | Path], *, allow_networks: Iterable[str] = (), on_problem=None
) -> tuple[list[FeedDeal], list[str]]:
    """Every entry of every feed (files or http(s) URLs), in order; a feed that fails adds one line to ``problems``.

    ``on_problem`` sees each such line as it happens (the scanner logs it)."""
    from lab.core.errors import LabError

    deals: list[FeedDeal] = []
    problems: list[str] = []
    for src in sources:
        name = str(src)
        try:
            if name.startswith(("http://", "https://")):
                from lab.agents import net

                data = net.request(
                    "GET",
                    name,
                    allow_networks=allow_networks,
                    headers={"Accept": "application/rss+xml, application/xml, text/xml"},
                ).body
            else:
                data = Path(src).read_bytes()
            got = parse_rss(data, source=Path(name).stem if not name.startswith("http") else name)
        except (LabError, ValueError, OSError) as e:
            problem = f"skipped feed {name}: {e}"
            problems.append(problem)
            if on_problem:
                on_problem(problem)
            continue
        deals.extend(got)
    return deals, problems
