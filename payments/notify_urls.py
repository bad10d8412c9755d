"""Where a storefront's notifications may go: an outbound request from our network, so never to
loopback, private, link-local (the cloud metadata address among them) or otherwise reserved
addresses, unless NOTIFY_ALLOW_PRIVATE_URLS says so (the demo and the tests, on one machine)."""

from __future__ import annotations

import ipaddress
import socket
from typing import Any
from urllib.parse import urlsplit

from requests_hardened.ip_filter import EXTRA_BLOCKED_NET_RANGES


class UrlRefused(ValueError):
    """The URL may not receive notifications; the message says why."""


def check_notification_url(url: str, *, allow_private: bool) -> None:
    """Raise UrlRefused unless `url` is http(s) with a host whose every address is public."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused("The URL must be http(s) with a host.")
    if parts.username or parts.password:
        raise UrlRefused("The URL may not carry a user name or password.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        found = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise UrlRefused(f"The URL's host does not resolve: {exc}.") from None
    if allow_private:
        return
    for *_, sockaddr in found:
        for address in _with_embedded_ipv4(ipaddress.ip_address(sockaddr[0])):
            _refuse_non_public(address)


def _with_embedded_ipv4(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> list[Any]:
    """The address, and the IPv4 address inside an IPv4-mapped, -compatible or -translated IPv6 one."""
    if not isinstance(address, ipaddress.IPv6Address):
        return [address]
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if int(address) >> 32 in (0, 0xFFFF0000):  # ::a.b.c.d and ::ffff:0:a.b.c.d
        return [address, ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)]
    return [address]


def _refuse_non_public(address: Any) -> None:
    # requests-hardened's list adds NAT64, 6to4 and the like, whose IPv6 forms can reach IPv4 inside.
    if not address.is_global or address.is_multicast or any(address in net for net in EXTRA_BLOCKED_NET_RANGES):
        raise UrlRefused(f"The URL's host resolves to {address}, which is not a public address.")
