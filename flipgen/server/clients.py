"""Who is asking: the client address behind trusted proxies, and the scheme they saw.

``X-Forwarded-For`` is believed only when the peer is one of the configured proxies
(``--trust-proxy 10.0.0.0/8 --trust-proxy 127.0.0.1``), and only for as many hops as
configured (``--proxy-hops``, default 1): walking the header from the right, each trusted
proxy's entry is skipped, and the first address that is not a trusted proxy, or the one
after the last hop, is the client. Everything left of it was written by the client itself.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from flipgen.errors import UserError

__all__ = ["LOOPBACK", "ProxyTrust"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK = ("127.0.0.0/8", "::1/128")


def _network(text: str) -> Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise UserError(
            f"--trust-proxy takes proxy addresses or CIDRs such as 10.0.0.0/8 or 127.0.0.1, not {text[:100]!r}."
        ) from None


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ProxyTrust:
    """The proxies whose forwarded headers are believed, and how many of them are in a row."""

    def __init__(self, proxies: Iterable[str] = (), hops: int = 1) -> None:
        if hops < 1:
            raise UserError(f"--proxy-hops must be at least 1, not {hops}.")
        self.networks = tuple(_network(p) for p in proxies if p.strip())
        self.hops = hops

    def __bool__(self) -> bool:
        return bool(self.networks)

    def trusted(self, address: str) -> bool:
        ip = _address(address)
        return ip is not None and any(ip.version == n.version and ip in n for n in self.networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client address for a request from ``peer`` carrying ``X-Forwarded-For``."""
        if not self.networks or not forwarded_for or not self.trusted(peer):
            return peer
        hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
        current, skipped = peer, 0
        while hops and skipped < self.hops and self.trusted(current):
            current, skipped = hops.pop(), skipped + 1
        ip = _address(current)
        return str(ip) if ip is not None else peer

    def scheme(self, peer: str, scheme: str, forwarded_proto: str | None) -> str:
        """The scheme the client used: ``X-Forwarded-Proto`` from a trusted proxy, else ours."""
        if forwarded_proto and self.trusted(peer):
            proto = forwarded_proto.split(",")[0].strip().lower()
            if proto in ("http", "https"):
                return proto
        return scheme
