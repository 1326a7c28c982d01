"""The course's website projects: a one-call page summary, and a brochure in two model calls.

    summarize(url):  fetch the page -> one call: a short (snarky, as in the course) markdown summary

    fetch the landing page (lab.prompting.web: title, visible text, links)
      -> call 1: the model picks the relevant links, as JSON (a one-shot example in the system prompt)
      -> fetch those pages (each through the same URL guard)
      -> call 2: the model writes a short markdown brochure from all the text, streamed

A worked example (the tests serve such a site on loopback):

    landing https://acme.test/ links: /about, /careers, /privacy, /products
    call 1 -> {"links": [{"type": "about page", "url": "https://acme.test/about"},
                         {"type": "careers page", "url": "https://acme.test/careers"}]}
    call 2 -> "# Acme Rockets\\nAcme builds reusable rockets ... ## Careers ..."

A link the model names that was not on the page is dropped (models invent URLs), and so is a malformed one; a
malformed link on the page itself (``http://[::1``) was already skipped by the scraper. With the local model the
choice is constrained to the page's own links by the JSON schema (``enum``), so even SmolLM2 cannot invent one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable
from urllib.parse import urljoin, urlsplit

from pydantic import BaseModel, Field

from lab.core.errors import LabError
from lab.llm.base import Message, Options, Provider, Response, run
from lab.prompting.structured import Schema, StructuredResult, structured
from lab.prompting.web import Page, fetch_page

LINK_SYSTEM_PROMPT = (
    "You are provided with a list of links found on a webpage. You are able to decide which of the links would be "
    "most relevant to include in a brochure about the company, such as links to an About page, or a Company page, "
    "or Careers/Jobs pages.\nYou should respond in JSON as in this example:\n"
    + json.dumps(
        {
            "links": [
                {"type": "about page", "url": "https://full.url/goes/here/about"},
                {"type": "careers page", "url": "https://another.full.url/careers"},
            ]
        },
        indent=2,
    )
)

BROCHURE_SYSTEM_PROMPT = (
    "You are an assistant that analyzes the contents of several relevant pages from a company website and creates "
    "a short brochure about the company for prospective customers, investors and recruits. Respond in markdown. "
    "Include details of company culture, customers and careers/jobs if you have the information."
)

SUMMARY_SYSTEM_PROMPT = (
    "You are a snarky assistant that analyzes the contents of a website, and provides a short, snarky, humorous "
    "summary, ignoring text that might be navigation related. Respond in markdown."
)

MAX_CANDIDATES = 40  # links offered to the model: a 135M model with a 4k-token window cannot weigh hundreds


class Link(BaseModel):
    type: str = Field(description="What the page is, e.g. 'about page'.")
    url: str = Field(description="The full URL of the page.")


class LinkList(BaseModel):
    links: list[Link] = Field(description="The links worth reading for a brochure.")


def candidates(page: Page) -> list[str]:
    """The page's links worth offering: same-site first, never the page itself."""
    host = urlsplit(page.url).hostname
    links = [u for u in page.links if u.rstrip("/") != page.url.rstrip("/")]
    same = [u for u in links if urlsplit(u).hostname == host]
    return (same + [u for u in links if u not in same])[:MAX_CANDIDATES]


def link_user_prompt(page: Page, links: list[str]) -> str:
    return (
        f"Here is the list of links on the website of {page.url} - please decide which of these are relevant web "
        "links for a brochure about the company, respond with the full https URL in JSON format. Do not include "
        "Terms of Service, Privacy, email links.\nLinks:\n" + "\n".join(links)
    )


def link_schema(links: list[str], max_links: int) -> dict:
    """LinkList's JSON Schema, with ``url`` limited to the page's own links (llama.cpp decodes under it)."""
    schema = LinkList.model_json_schema()
    schema["$defs"]["Link"]["properties"]["url"]["enum"] = links
    schema["properties"]["links"] |= {"minItems": 1, "maxItems": max_links}  # a tiny model likes to answer []
    return schema


def pick_links(
    provider: Provider, page: Page, *, model: str | None = None, options: Options | None = None, max_links: int = 3
) -> tuple[list[dict], StructuredResult | None]:
    """Call 1: the relevant links, as ``[{"type", "url"}]`` - only links that were on the page, at most
    ``max_links``, no repeats. An empty page gives ``[]`` without calling the model."""
    links = candidates(page)
    if not links:
        return [], None
    messages = [
        {"role": "system", "content": LINK_SYSTEM_PROMPT},
        {"role": "user", "content": link_user_prompt(page, links)},
    ]
    options = (options or Options(temperature=0)).model_copy(update={"max_tokens": 60 * max_links + 40})
    result = structured(
        provider,
        messages,
        Schema.from_model(LinkList, link_schema(links, max_links)),
        model=model,
        options=options,
        describe=False,
    )
    picked: list[dict] = []
    for item in (result.value or {}).get("links", []):
        try:
            url = urljoin(page.url, item["url"])  # models often answer "/about" for "https://acme.test/about"
        except ValueError:  # a malformed URL from the model (http://[::1) is dropped, like an invented one
            continue
        if url in links and url not in {p["url"] for p in picked}:
            picked.append({"type": item["type"], "url": url})
    return picked[:max_links], result


@dataclass
class Material:
    """Everything the brochure is written from, and what went wrong on the way (shown, not hidden)."""

    landing: Page
    links: list[dict] = field(default_factory=list)
    pages: list[Page] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "URL: why" for each link that could not be fetched
    link_result: StructuredResult | None = None

    def text(self, max_chars_per_page: int = 1_500) -> str:
        """The pages' contents, each cut to fit a small model's context window (~4 characters a token)."""
        out = "Landing page:\n" + self.landing.contents(max_chars_per_page * 2)
        for link, page in zip(self.links, self.pages):
            out += f"\n\n{link['type']}:\n" + page.contents(max_chars_per_page)
        return out


def gather(
    url: str,
    provider: Provider,
    *,
    model: str | None = None,
    max_links: int = 3,
    on_step: Callable[[str], None] | None = None,
    **fetch_kw,
) -> Material:
    """Fetch the landing page, let the model pick links, fetch those (a failing link is skipped and noted)."""
    say = on_step or (lambda s: None)
    say(f"Fetching {url}")
    material = Material(fetch_page(url, **fetch_kw))
    say(f"Found {len(material.landing.links)} links; asking the model which matter")
    links, material.link_result = pick_links(provider, material.landing, model=model, max_links=max_links)
    for link in links:
        say(f"Fetching {link['type']}: {link['url']}")
        try:
            material.pages.append(fetch_page(link["url"], **fetch_kw))
            material.links.append(link)
        except LabError as e:  # one bad link should not sink the brochure
            material.skipped.append(f"{link['url']}: {e}")
    return material


def brochure_messages(company: str, material: Material) -> list[Message]:
    # The course's wording, with the instruction moved *after* the pages: a 135M model given the instruction
    # first repeats the company name for 150 tokens; given it last, it writes paragraphs (checked on SmolLM2).
    user = (
        f"You are looking at a company called: {company}\nHere are the contents of its landing page and other "
        f"relevant pages.\n\n{material.text()}\n\nUsing only the pages above, build a short brochure of "
        f"{company} in markdown: what it does, its culture, its customers and its jobs."
    )
    return [{"role": "system", "content": BROCHURE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def summarize(
    url: str,
    provider: Provider,
    *,
    model: str | None = None,
    options: Options | None = None,
    on_text: Callable[[str], None] | None = None,
    **fetch_kw,
) -> tuple[Page, Response]:
    """The course's first project: one page, one call, a short summary streamed (``on_text``)."""
    page = fetch_page(url, **fetch_kw)
    user = (
        f"You are looking at a website titled {page.title}. Its contents:\n\n{page.contents(3_000)}\n\n"
        "Provide a short summary of this website in markdown. If it includes news or announcements, then "
        "summarize these too."
    )
    messages = [{"role": "system", "content": SUMMARY_SYSTEM_PROMPT}, {"role": "user", "content": user}]
    return page, run(provider, messages, model=model, options=options, on_text=on_text)


def write_brochure(
    provider: Provider,
    company: str,
    material: Material,
    *,
    model: str | None = None,
    options: Options | None = None,
    on_text: Callable[[str], None] | None = None,
) -> Response:
    """Call 2: stream the brochure (``on_text`` sees each piece)."""
    return run(provider, brochure_messages(company, material), model=model, options=options, on_text=on_text)


def make_brochure(
    url: str,
    provider: Provider,
    *,
    company: str | None = None,
    model: str | None = None,
    options: Options | None = None,
    max_links: int = 3,
    on_text: Callable[[str], None] | None = None,
    on_step: Callable[[str], None] | None = None,
    **fetch_kw,
) -> tuple[Material, Response]:
    """The whole pipeline; ``company`` defaults to the landing page's title."""
    material = gather(url, provider, model=model, max_links=max_links, on_step=on_step, **fetch_kw)
    if on_step:
        on_step(f"Writing the brochure from {1 + len(material.pages)} pages")
    reply = write_brochure(
        provider, company or material.landing.title, material, model=model, options=options, on_text=on_text
    )
    return material, reply
