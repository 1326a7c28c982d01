"""The address guard: may the server connect to this URL? One check for every address a visitor can type.

A page on a shared deployment that connects to any URL a visitor types is a classic SSRF hole: ask it for
``http://169.254.169.254/latest/meta-data/`` (the cloud metadata service) or ``http://10.0.0.5:8080/admin``
and the server reads its own private network for you. ``check_url`` refuses, before any request:
- a scheme other than http or https (``file://``, ``ftp://``, ``gopher://``), and a malformed URL (``http://[::1``);
- a host whose addresses (every one it resolves to) are loopback, private (10/8, 172.16/12, 192.168/16, fc00::/7),
  link-local, multicast, reserved, unspecified (0.0.0.0) or cloud metadata - judged after DNS resolution, so odd
  spellings such as ``127.1`` or ``2130706433`` are judged by what they resolve to, and so are IPv6 spellings of
  such IPv4 addresses (``::ffff:10.0.0.1``, NAT64 ``64:ff9b::a00:1``, 6to4, ``::10.0.0.1``).

``allow_private`` (default: ``LAB_ALLOW_PRIVATE_URLS``, off) lets a laptop user reach a server on the same
machine; ``allow_networks`` allows only listed ranges (tests use ``["127.0.0.0/8"]``). Metadata addresses stay
refused either way. Used by the web fetcher (``lab.prompting.web``, which also checks every redirect and the
address it really connected to), by the providers for a typed base URL or Ollama host (``check_base_url``), and by
the agents' feed reader and notifier.

    >>> check_url("file:///etc/passwd")
    Traceback (most recent call last):
    ...
    lab.core.netguard.URLRefused: Refused file:///etc/passwd: only http:// and https:// URLs can be fetched.
    >>> check_url("http://10.1.2.3/")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.core.netguard.URLRefused: Refused http://10.1.2.3/: 10.1.2.3 is a private address. ...
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Callable, Iterable
from urllib.parse import urlsplit

from lab.core.errors import InputError, ProviderUnavailable

# Cloud metadata endpoints (AWS/GCP/Azure/OpenStack 169.254.169.254, AWS IPv6, Alibaba): always refused.
METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")}
METADATA_HOSTS = {"metadata.google.internal", "metadata", "instance-data"}

Resolver = Callable[[str], list[str]]


class URLRefused(InputError):
    """The URL points somewhere the fetcher will not go (scheme, private address, redirect loop)."""


def system_resolver(host: str) -> list[str]:
    """Every address ``host`` resolves to (IPv4 and IPv6), as strings."""
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except socket.gaierror as e:
        raise ProviderUnavailable(f"Cannot resolve {host!r}: {e.strerror or e}. Check the address.") from e
    return sorted({info[4][0] for info in infos})


# IPv6 ranges that carry an IPv4 address (and reach it): NAT64 (64:ff9b::/96, RFC 6052) and its local-use
# /48 (RFC 8215; no fixed embedding, so never public). IPv4-mapped, IPv4-compatible, 6to4 and Teredo are
# unwrapped by ``embedded_ipv4`` below.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for, when it is one of the spellings that reach it.

    >>> [str(embedded_ipv4(ipaddress.ip_address(a))) for a in ("::ffff:10.0.0.1", "64:ff9b::a00:1", "2002:a00:1::1",
    ...                                                            "::127.0.0.1", "2001:db8::1")]
    ['10.0.0.1', '10.0.0.1', '10.0.0.1', '127.0.0.1', 'None']
    """
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped:  # ::ffff:a.b.c.d
        return ip.ipv4_mapped
    if ip.sixtofour:  # 2002:AABB:CCDD::/48
        return ip.sixtofour
    if ip.teredo:  # 2001::/32: (server, client)
        return ip.teredo[1]
    if ip in NAT64 or (int(ip) >> 32 == 0 and int(ip) > 1):  # 64:ff9b::a.b.c.d, deprecated ::a.b.c.d
        return ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)
    return None


def _kind(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """What kind of non-public address ``ip`` is, or None when it is public."""
    if ip in METADATA:
        return "cloud metadata"
    if isinstance(ip, ipaddress.IPv6Address) and ip in NAT64_LOCAL:
        return "local-use NAT64"
    if ip.is_global and not ip.is_multicast:
        return None
    return (
        "loopback"
        if ip.is_loopback
        else "link-local"
        if ip.is_link_local
        else "unspecified (it reaches this machine)"
        if ip.is_unspecified
        else "private"
        if ip.is_private
        else "multicast"
        if ip.is_multicast
        else "reserved/non-public"
    )


def _why_refused(
    ip: ipaddress.IPv4Address | ipaddress.IPv6Address, allow_private: bool, allow_networks: list
) -> str | None:
    """Why this address may not be reached, or None when it may. An IPv6 spelling of an IPv4 address
    (``::ffff:10.0.0.1``, NAT64 ``64:ff9b::a00:1``, 6to4, ``::10.0.0.1``) is judged by the IPv4 address it reaches."""
    inner = embedded_ipv4(ip)
    target = inner or ip
    kind = _kind(target) or (_kind(ip) if inner else None)
    if kind is None:
        return None
    shown = f"{ip} (an IPv6 spelling of {inner})" if inner else str(ip)
    if kind == "cloud metadata":
        return f"{shown} is a cloud metadata address (never fetched)"
    if allow_private or any(target in net or ip in net for net in allow_networks):
        return None
    return f"{shown} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} address"


HINT = (
    " Private, loopback and link-local addresses are refused so that a shared deployment cannot be used to probe "
    "its own network. On your own machine, an operator allows them with LAB_ALLOW_PRIVATE_URLS=1 (in the CLI: "
    "--allow-private)."
)


def _show(url: str) -> str:
    """A URL as it may appear in a message: control characters dropped, at most 200 characters."""
    from lab.core.errors import excerpt

    return excerpt(url, 200)


def split_url(url: str):
    """``urlsplit`` that never raises: a malformed URL (``http://[::1``, ``http://[zz]/``, a port out of range)
    becomes a ``URLRefused`` that says so. Returns (parts, host) with the host lower-cased, without a final dot."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        parts.port  # noqa: B018 - raises ValueError for a port out of range or not a number
    except ValueError as e:
        raise URLRefused(
            f"Refused {_show(url)}: it is not a well-formed URL ({e}). Check the brackets of an IPv6 "
            "address and the port."
        ) from e
    return parts, host


def check_url(
    url: str, *, allow_private: bool | None = None, allow_networks: Iterable[str] = (), resolver: Resolver | None = None
) -> list[str]:
    """Refuse (``URLRefused``) what may not be fetched; return the host's vetted addresses. The one address
    guard of the lab: web pages, typed provider base URLs and Ollama hosts all pass through it."""
    from lab.core.settings import get_settings

    allow = get_settings().allow_private_urls if allow_private is None else allow_private
    nets = [ipaddress.ip_network(n, strict=False) for n in allow_networks]
    parts, host = split_url(url)
    if parts.scheme not in ("http", "https"):
        raise URLRefused(f"Refused {_show(url)}: only http:// and https:// URLs can be fetched.")
    if not host:
        raise URLRefused(f"Refused {_show(url)}: there is no host name in it.")
    if host in METADATA_HOSTS:
        raise URLRefused(f"Refused {_show(url)}: {host} is a cloud metadata host (never fetched).")
    try:
        addresses = [str(ipaddress.ip_address(host))]
    except ValueError:  # a name, or an odd spelling of an address (127.1, 2130706433, 0x7f.1): the resolver decides
        addresses = (resolver or system_resolver)(host)
    if not addresses:
        raise URLRefused(f"Refused {_show(url)}: {host} resolves to no address.")
    for a in addresses:
        why = _why_refused(ipaddress.ip_address(a.split("%")[0]), allow, nets)
        if why:
            raise URLRefused(f"Refused {_show(url)}: {why}." + ("" if "metadata" in why else HINT))
    return addresses


def check_base_url(url: str, *, provider: str, typed: bool) -> str:
    """A provider's base URL (or Ollama host), checked before any client is built; returns it stripped.

    Always: well-formed, http(s). When a visitor ``typed`` it and the deployment did not configure it: the
    address guard above too (``LAB_ALLOW_PRIVATE_URLS`` decides about private addresses). The CLI passes
    ``typed=False``: its user is the operator, pointing at a server of their own.

    >>> check_base_url("http://[::1", provider="openai-compatible", typed=False)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    lab.core.netguard.URLRefused: Refused http://[::1: it is not a well-formed URL (Invalid IPv6 URL)...
    """
    from lab.core.keys import is_configured_base_url

    url = url.strip()
    if provider == "ollama" and "://" not in url:  # Ollama hosts are often written host:port
        url = "http://" + url
    parts, host = split_url(url)
    if parts.scheme not in ("http", "https") or not host:
        raise URLRefused(
            f"Refused {_show(url)} as the {provider} base URL: it needs http:// or https:// and a host "
            "(e.g. http://127.0.0.1:8080/v1)."
        )
    if typed and not is_configured_base_url(provider, url):
        check_url(url)
    return url
