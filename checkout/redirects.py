"""Where the shopper's browser may be sent: the shop's own `success_url` and `failure_url`.

Browsers parse URLs by the WHATWG rules, not by `urlsplit`: they drop tabs and newlines, read a
backslash as a slash, accept `https:evil.example` and send `https://evil.example\\@shop.example/`
to evil.example. Rather than imitate a browser, the rule is strict: it accepts only URLs that
every parser reads the same way, and refuses everything else (it is fine to refuse a URL a
browser would have taken). An accepted URL is

    http(s)://<host>[:<port>][/path][?query][#fragment]

in printable ASCII (no space, no backslash, no control character, nothing a browser rewrites),
without user-info, whose host, lower-cased and without one trailing dot, is one of the allowed
hosts. Hosts are DNS names in ASCII (a unicode host must be sent as its `xn--` form), dotted
IPv4 addresses or bracketed IPv6 literals (compared in their canonical form).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

from django.conf import settings

MAX_URL_LENGTH = 2000

# RFC 3986 characters that no browser rewrites: unreserved, reserved and "%" (percent-encoding).
# Space, backslash, controls, non-ASCII and `"<>^`{|}` are left out on purpose.
_URL_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+$")
# The authority ends at the first "/", "?" or "#"; it must hold no "@" (user-info) and no "%".
_ABSOLUTE = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*)://(?P<authority>[^/?#]*)(?P<rest>[/?#].*)?$", re.S)
_HOST_PORT = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._]+)(?::(?P<port>[0-9]{1,5}))?$")
_LABEL = re.compile(r"^[a-z0-9_](?:[a-z0-9\-_]*[a-z0-9_])?$")


def is_allowed_redirect(url: str, allowed_hosts: Iterable[str] | None = None) -> bool:
    """True only for an absolute http(s) URL whose host, as any browser parses it, is allowed.

    `allowed_hosts` defaults to ALLOWED_REDIRECT_HOSTS. Never raises, whatever `url` holds.
    """
    host = redirect_host(url)
    if host is None:
        return False
    hosts = settings.ALLOWED_REDIRECT_HOSTS if allowed_hosts is None else allowed_hosts
    return host in {normal for normal in (normalise_host(entry) for entry in hosts) if normal}


def redirect_host(url: object) -> str | None:
    """The normalised host of a URL the strict rule accepts, or None when it refuses the URL."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or not _URL_CHARS.match(url):
        return None
    absolute = _ABSOLUTE.match(url)
    if absolute is None or absolute["scheme"].lower() not in ("http", "https"):
        return None
    host_port = _HOST_PORT.match(absolute["authority"])
    if host_port is None:
        return None
    port = host_port["port"]
    if port is not None and not 0 < int(port) <= 65535:
        return None
    return normalise_host(host_port["host"])


def normalise_host(host: str) -> str:
    """A host as browsers compare it: lower case, one trailing dot dropped, IDNA for unicode,
    IPv6 in canonical form with brackets. "" when it is not a host the rule can accept."""
    host = host.strip().lower()
    if host.startswith("["):
        return _ipv6(host)
    if host.endswith("."):
        host = host[:-1]
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            return ""
    labels = host.split(".")
    if not host or len(host) > 253 or not all(_LABEL.match(label) and len(label) <= 63 for label in labels):
        return ""
    if labels[-1].isdigit() or labels[-1].startswith("0x"):
        # Browsers read such a host as an IPv4 address (also "0x7f.1" or "2130706433"):
        # accept only the plain dotted form, which reads the same everywhere.
        try:
            return str(ipaddress.IPv4Address(host)) if host.count(".") == 3 else ""
        except ValueError:
            return ""
    return host


def _ipv6(host: str) -> str:
    if not host.endswith("]"):
        return ""
    try:
        return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
    except ValueError:
        return ""
