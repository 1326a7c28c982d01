"""Safe fetch + scrape: get a web page for a model to read, without letting a URL probe our own network.

A page on a shared deployment that fetches any URL a visitor types is a classic SSRF hole: ask it for
``http://169.254.169.254/latest/meta-data/`` (the cloud metadata service) or ``http://10.0.0.5:8080/admin``
and the server reads its own private network for you. So ``fetch`` checks, for the first URL *and every
redirect* (followed by hand, never by requests itself):
- the scheme is http or https (``file://``, ``ftp://``, ``gopher://`` are refused);
- every address the host name resolves to is public: loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
  link-local, multicast, reserved, unspecified (0.0.0.0) and cloud-metadata addresses are refused, after DNS
  resolution (so odd spellings such as ``127.1`` or ``2130706433`` are judged by what they resolve to), and so
  are IPv6 spellings of such IPv4 addresses (``::ffff:10.0.0.1``, NAT64 ``64:ff9b::a00:1``, 6to4, ``::10.0.0.1``);
- a malformed URL (``http://[::1``) is refused with a message, never a crash; a malformed link on a page is skipped;
- the socket really connected to an allowed address, checked before the request is sent (a DNS answer that
  changed in between - DNS rebinding - is caught);
- the body stays under a size cap (streamed; we stop reading at the cap) and arrives in time.

``allow_private`` (default: ``LAB_ALLOW_PRIVATE_URLS``, off) lets a laptop user read a page served on the same
machine; ``allow_networks`` allows only listed ranges (tests use ``["127.0.0.0/8"]``). Metadata addresses stay
refused either way: nothing in the lab needs them.

The address checks are the lab's one guard, ``lab.netguard`` (``check_url``); this module adds what fetching
needs on top: redirects followed by hand and checked one by one, the peer address checked after connecting,
size and time caps, and scraping.

    >>> page = scrape(b"<title>Acme</title><body><p>Hi</p><a href='/about'>About</a></body>", "https://acme.test/")
    >>> page.title, page.text, page.links
    ('Acme', 'Hi\\nAbout', ['https://acme.test/about'])
"""

from __future__ import annotations

import ipaddress
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import urldefrag, urljoin, urlsplit

from lab.core.errors import LabError, ProviderTimeout, ProviderUnavailable
from lab.core.netguard import Resolver, URLRefused, _show, _why_refused, check_url, split_url

MAX_BYTES = 2_000_000  # body cap: 2 MB is far more than any HTML page a model should read
TIMEOUT_S = 10.0  # per connect and per read, and for the whole body
MAX_REDIRECTS = 5
USER_AGENT = "Mozilla/5.0 (compatible; LLM-Engineering-Lab/1.0; +educational brochure demo)"
HTML_TYPES = ("text/html", "application/xhtml+xml", "text/plain")
REDIRECTS = (301, 302, 303, 307, 308)


class FetchError(LabError):
    """The page could not be fetched (HTTP error, too big, wrong content type)."""


@dataclass
class Fetched:
    url: str  # the final URL, after redirects
    status: int
    content_type: str
    body: bytes
    redirects: list[str] = field(default_factory=list)


def _vetting_adapter(vet: Callable[[str], str | None]):
    """A requests adapter whose connections check the address they really connected to, right after connecting
    and before a byte of the request is sent: a DNS answer that changed since ``check_url`` (DNS rebinding)
    cannot smuggle a private address in. urllib3 builds connections from its pools' ``ConnectionCls``."""
    from requests.adapters import HTTPAdapter
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def check(conn) -> None:
        why = vet(conn.sock.getpeername()[0])
        if why:
            conn.close()
            raise URLRefused(f"Refused {conn.host}: it connected to {why}.")

    class Conn(HTTPConnection):
        def connect(self) -> None:
            super().connect()
            check(self)

    class TLSConn(HTTPSConnection):
        def connect(self) -> None:
            super().connect()
            check(self)

    class Pool(HTTPConnectionPool):
        ConnectionCls = Conn

    class TLSPool(HTTPSConnectionPool):
        ConnectionCls = TLSConn

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args, **kwargs) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = {"http": Pool, "https": TLSPool}

    return Adapter(max_retries=0)


def fetch(
    url: str,
    *,
    allow_private: bool | None = None,
    allow_networks: Iterable[str] = (),
    resolver: Resolver | None = None,
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
    max_redirects: int = MAX_REDIRECTS,
) -> Fetched:
    """GET ``url`` with the checks above; redirects are followed by hand so each hop is vetted."""
    import requests

    from lab.core.settings import get_settings

    allow = get_settings().allow_private_urls if allow_private is None else allow_private
    nets = list(allow_networks)
    hops: list[str] = []
    current = url.strip()
    deadline = time.monotonic() + timeout_s * 3  # connect + headers + body, all told
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would bypass the address checks
        networks = [ipaddress.ip_network(n, strict=False) for n in nets]
        adapter = _vetting_adapter(lambda ip: _why_refused(ipaddress.ip_address(ip.split("%")[0]), allow, networks))
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        while True:
            check_url(current, allow_private=allow, allow_networks=nets, resolver=resolver)
            try:
                resp = session.get(
                    current,
                    stream=True,
                    allow_redirects=False,
                    timeout=(timeout_s, timeout_s),
                    headers={"User-Agent": USER_AGENT, "Accept": "text/html,text/plain;q=0.9"},
                )
            except requests.Timeout as e:
                raise ProviderTimeout(f"{_show(current)} did not answer within {timeout_s:.0f} s.") from e
            except requests.RequestException as e:
                raise ProviderUnavailable(
                    f"Cannot fetch {_show(current)}: {type(e).__name__}. Is the address right?"
                ) from e
            except ValueError as e:  # requests parses a redirect's Location even when it does not follow it
                raise URLRefused(f"Refused {_show(current)}: it redirects to a malformed URL ({_show(str(e))}).") from e
            with resp:
                if resp.status_code in REDIRECTS and resp.headers.get("Location"):
                    if len(hops) >= max_redirects:
                        raise URLRefused(f"Refused {_show(url)}: more than {max_redirects} redirects.")
                    hops.append(current)
                    try:
                        current = urljoin(current, resp.headers["Location"])
                    except ValueError as e:  # a malformed Location (http://[::1): refused, never a crash
                        raise URLRefused(f"Refused {_show(current)}: it redirects to a malformed URL.") from e
                    continue
                if resp.status_code >= 400:
                    raise FetchError(f"{_show(current)} answered HTTP {resp.status_code} {_show(resp.reason or '')}.")
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                if ctype and ctype not in HTML_TYPES:
                    raise FetchError(
                        f"{_show(current)} is {_show(ctype)}, not a web page; give the URL of an HTML page."
                    )
                declared = int(resp.headers.get("Content-Length") or 0)
                if declared > max_bytes:
                    raise FetchError(f"{_show(current)} is {declared:,} bytes; the limit is {max_bytes:,}.")
                body = bytearray()
                try:
                    for piece in resp.iter_content(64 * 1024):
                        body += piece
                        if len(body) > max_bytes:  # stop reading: a server may lie about (or omit) the length
                            raise FetchError(f"{_show(current)} sent more than {max_bytes:,} bytes; stopped reading.")
                        if time.monotonic() > deadline:
                            raise ProviderTimeout(
                                f"{_show(current)} is sending too slowly; gave up after {timeout_s * 3:.0f} s."
                            )
                except requests.Timeout as e:
                    raise ProviderTimeout(f"{_show(current)} stopped sending for {timeout_s:.0f} s; gave up.") from e
                except requests.RequestException as e:
                    raise ProviderUnavailable(f"The connection to {_show(current)} broke: {type(e).__name__}.") from e
                return Fetched(current, resp.status_code, ctype, bytes(body), hops)


@dataclass
class Page:
    """What a model reads of a web page: its title, visible text and absolute links."""

    url: str
    title: str
    text: str
    links: list[str]

    def contents(self, max_chars: int = 2_000) -> str:
        """Title and text, cut at ``max_chars`` (a 135M model has a 4k-token window: ~4 characters a token)."""
        text = self.text if len(self.text) <= max_chars else self.text[:max_chars] + "\n[...]"
        return f"Webpage title: {self.title}\nWebpage contents:\n{text}\n"


def scrape(html: bytes | str, base_url: str) -> Page:
    """Parse HTML with BeautifulSoup (it finds the charset itself): title, visible text, unique links."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = soup.title.get_text(strip=True) if soup.title else "No title found"
    body = soup.body or soup
    for tag in body(["script", "style", "img", "input", "noscript", "svg"]):  # not text a reader sees
        tag.decompose()
    if soup.title:
        soup.title.decompose()
    text = body.get_text(separator="\n", strip=True)
    links: list[str] = []
    for a in soup.find_all("a", href=True):
        href = a["href"].strip()
        if not href or href.startswith(("#", "mailto:", "javascript:", "tel:")):
            continue
        try:  # a hostile page may hold malformed links (http://[::1): skipped, never a crash
            absolute = urldefrag(urljoin(base_url, href)).url
            split_url(absolute)
        except (ValueError, URLRefused):
            continue
        if urlsplit(absolute).scheme in ("http", "https") and absolute not in links:
            links.append(absolute)
    return Page(base_url, title, text, links)


def fetch_page(url: str, **kw) -> Page:
    """``fetch`` then ``scrape``: the one call the Prompting lab makes."""
    got = fetch(url, **kw)
    return scrape(got.body, got.url)
