"""Who the client is: the peer's address, or what a trusted proxy says it is.

``X-Forwarded-For`` is believed only from the proxies ``web.trusted_proxies`` names
(none by default); from anyone else it is a claim the client makes about itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from starlette.requests import Request

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def networks(proxies: Sequence[str]) -> tuple[Network, ...]:
    """The trusted proxies, as networks (a bare address is a network of one)."""
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in proxies)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_address(request: Request, trusted: Sequence[Network]) -> str:
    """The client's address: the nearest hop not a trusted proxy."""
    peer = request.client.host if request.client is not None else "-"
    if not trusted or not _trusted(peer, trusted):
        return peer
    hops = [
        hop.strip()
        for header in request.headers.getlist("x-forwarded-for")
        for hop in header.split(",")
        if hop.strip()
    ]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer
