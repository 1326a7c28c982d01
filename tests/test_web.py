"""The URL guard and scraper, against real servers on loopback and an injected DNS resolver (never the network).

Each refusal is checked *before* anything is sent where that is possible (the hit counters prove it), and the
allowed path really fetches and parses a page.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lab.core.errors import InputError, ProviderTimeout
from lab.core.netguard import URLRefused, check_url
from lab.prompting.web import FetchError, fetch, fetch_page, scrape

LOOPBACK = ["127.0.0.0/8"]  # the tests' exception to the private-address refusal


class Site:
    """A tiny web server: ``routes`` maps a path to (status, headers, body) or a callable(handler)."""

    def __init__(self, routes: dict) -> None:
        self.routes, self.hits = routes, []
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                site.hits.append(self.path)
                route = site.routes.get(self.path)
                if callable(route):
                    return route(self)
                status, headers, body = route or (404, {}, b"not found")
                self.send_response(status)
                for k, v in {
                    "Content-Type": "text/html; charset=utf-8",
                    "Content-Length": str(len(body)),
                    **headers,
                }.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def site():
    made = []

    def make(routes):
        made.append(Site(routes))
        return made[-1]

    yield make
    for s in made:
        s.close()


PAGE = b"""<html><head><title>Acme Rockets</title><style>.x{}</style></head>
<body><nav><a href="/about">About us</a> <a href="careers">Careers</a> <a href="#top">Top</a>
<a href="mailto:hi@acme.test">Mail</a></nav><script>var secret = 1;</script>
<h1>We build rockets</h1><p>Reusable, since 2019.</p><img src="x.png" alt="a picture"></body></html>"""


# ---------------------------------------------------------------------------------------------- refusals
@pytest.mark.parametrize(
    "url, why",
    [
        ("http://127.0.0.1:9/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://10.0.0.5/admin", "private"),
        ("http://192.168.1.1/", "private"),
        ("http://172.16.4.4/", "private"),
        ("http://169.254.169.254/latest/meta-data/", "metadata"),
        ("http://169.254.10.10/", "link-local"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://metadata.google.internal/computeMetadata/v1/", "metadata"),
        ("http://0.0.0.0/", "unspecified"),
    ],
)
def test_private_loopback_link_local_and_metadata_addresses_are_refused(url, why):
    with pytest.raises(URLRefused, match=why) as e:
        check_url(url, allow_private=False)
    assert isinstance(e.value, InputError) and url in str(e.value)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x/", "javascript:alert(1)"])
def test_non_http_schemes_are_refused(url):
    with pytest.raises(URLRefused, match="only http:// and https://"):
        fetch(url, allow_private=True)


def test_host_names_are_checked_after_dns_resolution():
    # a friendly name that resolves to a private address is refused for what it resolves to
    resolver = {
        "intranet.acme.test": ["10.1.2.3"],
        "mixed.acme.test": ["93.184.215.14", "192.168.0.7"],
        "www.acme.test": ["93.184.215.14"],
    }.get
    with pytest.raises(URLRefused, match="10.1.2.3 is a private address"):
        check_url("http://intranet.acme.test/", allow_private=False, resolver=resolver)
    with pytest.raises(URLRefused, match="192.168.0.7"):  # one bad address among good ones is enough
        check_url("https://mixed.acme.test/", allow_private=False, resolver=resolver)
    assert check_url("https://www.acme.test/", allow_private=False, resolver=resolver) == ["93.184.215.14"]


def test_localhost_by_name_is_refused_with_the_real_resolver():
    with pytest.raises(URLRefused, match="loopback"):
        fetch("http://localhost:9/", allow_private=False)


def test_the_refusal_names_the_fix_and_the_setting_defaults_to_off(monkeypatch):
    from lab.core.settings import get_settings

    monkeypatch.delenv("LAB_ALLOW_PRIVATE_URLS", raising=False)
    get_settings.cache_clear()
    try:
        with pytest.raises(URLRefused, match="--allow-private"):
            check_url("http://127.0.0.1/")  # no flag: the setting decides, and it is off
        monkeypatch.setenv("LAB_ALLOW_PRIVATE_URLS", "1")
        get_settings.cache_clear()
        assert check_url("http://127.0.0.1/") == ["127.0.0.1"]
        with pytest.raises(URLRefused, match="metadata"):  # never, whatever the setting
            check_url("http://169.254.169.254/")
    finally:
        get_settings.cache_clear()


def test_loopback_site_is_refused_before_any_request_without_permission(site):
    s = site({"/": (200, {}, PAGE)})
    with pytest.raises(URLRefused, match="loopback"):
        fetch(s.url + "/", allow_private=False)
    assert s.hits == []


def test_a_redirect_to_a_private_address_is_refused(site):
    s = site(
        {
            "/": (302, {"Location": "http://10.0.0.5/admin"}, b""),
            "/meta": (301, {"Location": "http://169.254.169.254/latest/meta-data/"}, b""),
        }
    )
    with pytest.raises(URLRefused, match="10.0.0.5 is a private address"):
        fetch(s.url + "/", allow_private=False, allow_networks=LOOPBACK)
    with pytest.raises(URLRefused, match="metadata"):  # even with private addresses allowed
        fetch(s.url + "/meta", allow_private=True)
    assert s.hits == ["/", "/meta"]


def test_a_redirect_to_a_malformed_or_nat64_url_is_refused_not_a_crash(site):
    # a hostile site answers with a Location the URL parser chokes on, or an IPv6 spelling of a private address
    s = site(
        {"/": (302, {"Location": "http://[::1"}, b""), "/nat64": (302, {"Location": "http://[64:ff9b::a00:5]/"}, b"")}
    )
    with pytest.raises(URLRefused, match="malformed|not a well-formed"):
        fetch(s.url + "/", allow_private=False, allow_networks=LOOPBACK)
    with pytest.raises(URLRefused, match=r"IPv6 spelling of 10\.0\.0\.5"):
        fetch(s.url + "/nat64", allow_private=False, allow_networks=LOOPBACK)
    assert s.hits == ["/", "/nat64"]


def test_a_page_with_malformed_links_still_scrapes():
    page = scrape(
        b"<title>T</title><a href='http://[::1'>x</a><a href='http://[zz]/y'>y</a><a href='/z'>z</a>",
        "https://acme.test/",
    )
    assert page.links == ["https://acme.test/z"]


def test_a_redirect_to_a_name_that_resolves_private_is_refused(site):
    s = site({"/": (307, {"Location": "http://intranet.acme.test/"}, b"")})
    with pytest.raises(URLRefused, match="10.9.9.9"):
        fetch(
            s.url + "/", allow_private=False, allow_networks=LOOPBACK, resolver={"intranet.acme.test": ["10.9.9.9"]}.get
        )


def test_dns_rebinding_is_caught_by_checking_where_the_socket_connected(site):
    # the check sees a public answer, the connection then lands on loopback (the DNS answer "changed")
    s = site({"/": (200, {}, PAGE)})
    port = s.url.rsplit(":", 1)[1]
    with pytest.raises(URLRefused, match="it connected to 127.0.0.1 is a loopback address"):
        fetch(f"http://localhost:{port}/", allow_private=False, resolver=lambda host: ["93.184.215.14"])
    assert s.hits == []  # refused right after connecting, before the request was sent


def test_redirects_within_the_allowed_site_are_followed(site):
    s = site({"/old": (301, {"Location": "/new"}, b""), "/new": (200, {}, PAGE)})
    got = fetch(s.url + "/old", allow_private=False, allow_networks=LOOPBACK)
    assert got.url == s.url + "/new" and got.redirects == [s.url + "/old"] and got.status == 200


def test_redirect_loops_stop(site):
    s = site({"/a": (302, {"Location": "/b"}, b""), "/b": (302, {"Location": "/a"}, b"")})
    with pytest.raises(URLRefused, match="more than 3 redirects"):
        fetch(s.url + "/a", allow_private=True, max_redirects=3)
    assert len(s.hits) == 4


def test_oversized_bodies_are_refused_by_header_and_while_streaming(site):
    big = b"<p>" + b"x" * 50_000 + b"</p>"

    def no_length(h):  # a server that does not say how big the body is: we count as we read
        h.send_response(200)
        h.send_header("Content-Type", "text/html")
        h.end_headers()
        for _ in range(100):
            h.wfile.write(b"y" * 10_000)

    s = site({"/big": (200, {}, big), "/stream": no_length})
    with pytest.raises(FetchError, match="50,007 bytes; the limit is 10,000"):
        fetch(s.url + "/big", allow_private=True, max_bytes=10_000)
    with pytest.raises(FetchError, match="more than 10,000 bytes; stopped reading"):
        fetch(s.url + "/stream", allow_private=True, max_bytes=10_000)


def test_slow_servers_time_out(site):
    def slow(h):
        time.sleep(1.5)
        h.send_response(200)
        h.end_headers()

    s = site({"/slow": slow})
    with pytest.raises(ProviderTimeout, match="did not answer within"):
        fetch(s.url + "/slow", allow_private=True, timeout_s=0.3)


def test_http_errors_and_non_html_are_explained(site):
    s = site({"/pdf": (200, {"Content-Type": "application/pdf"}, b"%PDF")})
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch(s.url + "/missing", allow_private=True)
    with pytest.raises(FetchError, match="application/pdf, not a web page"):
        fetch(s.url + "/pdf", allow_private=True)


# ---------------------------------------------------------------------------------------------- scraping
def test_scrape_keeps_title_visible_text_and_absolute_links():
    page = scrape(PAGE, "https://acme.test/home/")
    assert page.title == "Acme Rockets"
    assert "We build rockets" in page.text and "Reusable, since 2019." in page.text
    assert "secret" not in page.text and ".x{}" not in page.text and "Acme Rockets" not in page.text
    assert page.links == ["https://acme.test/about", "https://acme.test/home/careers"]  # no #fragment, no mailto


def test_fetch_page_from_an_allowed_loopback_site(site):
    s = site({"/": (200, {}, PAGE)})
    page = fetch_page(s.url + "/", allow_private=False, allow_networks=LOOPBACK)
    assert page.title == "Acme Rockets" and page.links[0] == s.url + "/about"
    assert page.contents(10).endswith("contents:\nAbout us\nC\n[...]\n")
