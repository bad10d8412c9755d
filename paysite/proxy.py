"""Who the client is, and whether it came over HTTPS, when the BPS sits behind a reverse proxy.

`X-Forwarded-For` and `X-Forwarded-Proto` are ordinary request headers: anyone can send them.
They are believed only when the peer (REMOTE_ADDR) is one of `TRUSTED_PROXIES`; from any other
peer they are removed before anything else reads them. Everything downstream (Django's HTTPS
redirect, secure cookies, the admin's sign-in lockout) then reads plain REMOTE_ADDR and
`request.is_secure()`, so no other code has to know about proxies.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from functools import lru_cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

FORWARDED_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO")


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(network, strict=False) for network in trusted)


def _is_trusted(address: str, trusted: tuple[IPNetwork, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_of(remote_addr: str, forwarded_for: str, trusted: tuple[IPNetwork, ...]) -> str:
    """The client's address: the rightmost address of `forwarded_for` that is not a trusted proxy.

    Each proxy appends the peer it saw, so everything right of the first untrusted address was
    written by our own proxies, and everything left of it by the client, who may lie. A malformed
    entry ends the walk at the last address a trusted proxy vouched for.
    """
    client = remote_addr
    for entry in reversed(forwarded_for.split(",")):
        try:
            ipaddress.ip_address(entry.strip())
        except ValueError:
            break
        client = entry.strip()
        if not _is_trusted(client, trusted):
            break
    return client


class TrustedProxyMiddleware:
    """Runs first: for a trusted peer, REMOTE_ADDR becomes the client and the scheme follows
    X-Forwarded-Proto; for any other peer both headers are dropped."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        # Read per request (cached), so that a test's settings override takes effect.
        trusted = _networks(tuple(settings.TRUSTED_PROXIES))
        if trusted and _is_trusted(str(meta.get("REMOTE_ADDR", "")), trusted):
            forwarded_for = str(meta.get("HTTP_X_FORWARDED_FOR", ""))
            if forwarded_for:
                meta["REMOTE_ADDR"] = client_of(str(meta["REMOTE_ADDR"]), forwarded_for, trusted)
            # The first value is the scheme the outermost proxy saw from the client (as Django's
            # SECURE_PROXY_SSL_HEADER reads it). WSGIRequest.scheme reads wsgi.url_scheme.
            proto = str(meta.get("HTTP_X_FORWARDED_PROTO", "")).split(",")[0].strip().lower()
            if proto in ("http", "https"):
                meta["wsgi.url_scheme"] = proto
        else:
            for header in FORWARDED_HEADERS:
                meta.pop(header, None)
        return self.get_response(request)


def client_address(request: HttpRequest) -> str:
    """The client's address for django-axes (AXES_CLIENT_IP_CALLABLE): REMOTE_ADDR, which
    TrustedProxyMiddleware has already set to the client when a trusted proxy forwarded it."""
    return str(request.META.get("REMOTE_ADDR", ""))
