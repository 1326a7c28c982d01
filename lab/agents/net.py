"""HTTP for the agents (RSS feeds in, push notifications out) through the lab's guarded fetcher's checks.

``lab.prompting.web.fetch`` reads web *pages* (GET, HTML only). Feeds are XML and notifications are POSTs, so this module
makes those two requests with the same guards, reusing ``lab.web``'s own checks rather than copies of them:
``check_url`` before each request and each redirect (scheme, private / loopback / metadata addresses refused,
``allow_networks`` for tests), the connect-time address check against DNS rebinding, a size cap and a timeout.

    >>> request("GET", "http://127.0.0.1:9/feed.xml")        # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.core.netguard.URLRefused: Refused http://127.0.0.1:9/feed.xml: 127.0.0.1 is a loopback address. ...
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Iterable
from urllib.parse import urljoin

from lab.core.errors import ProviderTimeout, ProviderUnavailable

MAX_BYTES = 2_000_000
TIMEOUT_S = 10.0
MAX_REDIRECTS = 5


@dataclass
class Reply:
    url: str
    status: int
    content_type: str
    body: bytes


def request(
    method: str,
    url: str,
    *,
    data: dict | bytes | None = None,
    headers: dict | None = None,
    allow_networks: Iterable[str] = (),
    allow_private: bool | None = None,
    max_bytes: int = MAX_BYTES,
    timeout_s: float = TIMEOUT_S,
) -> Reply:
    """One GET or POST; redirects of a GET are followed by hand (each hop vetted). HTTP errors raise ``FetchError``."""
    import requests

    from lab.core.settings import get_settings
    from lab.prompting import web

    allow = get_settings().allow_private_urls if allow_private is None else allow_private
    nets = list(allow_networks)
    networks = [ipaddress.ip_network(n, strict=False) for n in nets]
    current = url.strip()
    with requests.Session() as session:
        session.trust_env = False  # a proxy from the environment would bypass the address checks
        adapter = web._vetting_adapter(
            lambda ip: web._why_refused(ipaddress.ip_address(ip.split("%")[0]), allow, networks)
        )
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        for _ in range(MAX_REDIRECTS + 1):
            web.check_url(current, allow_private=allow, allow_networks=nets)
            try:
                resp = session.request(
                    method,
                    current,
                    data=data,
                    headers={"User-Agent": web.USER_AGENT, **(headers or {})},
                    stream=True,
                    allow_redirects=False,
                    timeout=(timeout_s, timeout_s),
                )
            except requests.Timeout as e:
                raise ProviderTimeout(f"{current} did not answer within {timeout_s:.0f} s.") from e
            except requests.RequestException as e:
                raise ProviderUnavailable(f"Cannot reach {current}: {type(e).__name__}.") from e
            with resp:
                if method == "GET" and resp.status_code in web.REDIRECTS and resp.headers.get("Location"):
                    current = urljoin(current, resp.headers["Location"])
                    continue
                if resp.status_code >= 400:
                    raise web.FetchError(f"{current} answered HTTP {resp.status_code} {resp.reason}.")
                body = bytearray()
                try:
                    for piece in resp.iter_content(64 * 1024):
                        body += piece
                        if len(body) > max_bytes:
                            raise web.FetchError(f"{current} sent more than {max_bytes:,} bytes; stopped reading.")
                except requests.RequestException as e:
                    raise ProviderUnavailable(f"The connection to {current} broke: {type(e).__name__}.") from e
                ctype = resp.headers.get("Content-Type", "").split(";")[0].strip().lower()
                return Reply(current, resp.status_code, ctype, bytes(body))
    raise web.URLRefused(f"Refused {url}: more than {MAX_REDIRECTS} redirects.")
