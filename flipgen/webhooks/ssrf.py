"""The SSRF guard for outbound webhooks: only public addresses, unless a target opts in.

A webhook URL comes from the project's configuration, but the host name resolves at send
time, and DNS can point anywhere (a metadata service, the database, the admin port). So the
host is resolved here, *every* address it resolves to is checked, and the sender connects to
the checked address itself (with the original ``Host`` header and TLS server name), so a
second lookup cannot swap in a private address between the check and the connection.

Refused: private (RFC 1918, ULA), loopback, link-local (cloud metadata lives there),
shared/CGNAT and other non-global ranges, unspecified, multicast. ``allow_private: true``
lets a target use private, loopback and link-local addresses (local receivers, tests);
unspecified and multicast stay refused. Plain ``http://`` needs ``allow_private`` too:
the payload carries a person's answers.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["BlockedTarget", "Target", "check_address", "resolve_target", "parse_target"]

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class BlockedTarget(Exception):
    """The URL may not be called; the message says why (and never contains a secret)."""


@dataclass(frozen=True)
class Target:
    """A URL whose host resolved to an address the guard accepts."""

    url: str
    scheme: str
    host: str
    port: int
    path: str  # path and query, at least "/"
    address: str = ""

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        ip = f"[{self.address}]" if ":" in self.address else self.address
        return f"{self.scheme}://{ip}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        default = 443 if self.scheme == "https" else 80
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == default else f"{name}:{self.port}"


def parse_target(url: str, *, allow_private: bool) -> Target:
    """Split ``url``; refuse schemes other than https (http only with ``allow_private``)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise BlockedTarget(f"not a valid URL ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise BlockedTarget("only http:// and https:// URLs can receive webhooks")
    if scheme == "http" and not allow_private:
        raise BlockedTarget("plain http:// is refused (answers would travel in clear); use https:// or allow_private")
    if not parts.hostname:
        raise BlockedTarget("the URL has no host")
    if parts.username or parts.password:
        raise BlockedTarget("credentials in the URL are not allowed; the signature authenticates the sender")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(
        url=url,
        scheme=scheme,
        host=parts.hostname,
        port=port or (443 if scheme == "https" else 80),
        path=path,
    )


def check_address(address: str, *, allow_private: bool) -> str | None:
    """None if a connection to ``address`` is allowed, else the reason."""
    ip: Address = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_unspecified:
        return f"{ip} is the unspecified address"
    if ip.is_multicast:
        return f"{ip} is a multicast address"
    if ip.is_global:
        return None
    if allow_private:
        return None if (ip.is_private or ip.is_loopback or ip.is_link_local) else f"{ip} is a reserved address"
    kind = "loopback" if ip.is_loopback else "link-local" if ip.is_link_local else "private"
    return f"{ip} is a {kind} address (set `allow_private: true` on this webhook to allow it)"


async def resolve_target(url: str, *, allow_private: bool) -> Target:
    """Resolve the URL's host and check every address; the first one is kept for the connection."""
    target = parse_target(url, allow_private=allow_private)
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise BlockedTarget(f"cannot resolve {target.host} ({exc})") from None
    addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise BlockedTarget(f"{target.host} resolves to no address")
    for address in addresses:
        reason = check_address(address, allow_private=allow_private)
        if reason is not None:
            raise BlockedTarget(f"{target.host} resolves to {reason}")
    return Target(target.url, target.scheme, target.host, target.port, target.path, addresses[0])
