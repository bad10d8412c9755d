"""Where a storefront's notifications may go: an outbound request from our network, so never to
loopback, private, link-local (the cloud metadata address among them) or otherwise reserved
addresses, unless NOTIFY_ALLOW_PRIVATE_URLS says so (the demo and the tests, on one machine)."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


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
        address = ipaddress.ip_address(sockaddr[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise UrlRefused(f"The URL's host resolves to {address}, which is not a public address.")
