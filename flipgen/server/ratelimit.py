"""Per-client rate limits: in process by default, shared through Redis when configured.

Both limiters are token buckets of ``per_minute`` requests a minute with bursts of the same
size, keyed by :func:`client_key` (an IPv4 address, or an IPv6 client's /64: one household or
one cloud VM owns a whole /64, so counting single v6 addresses would let it mint at will).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

__all__ = ["Limiter", "MemoryLimiter", "client_key"]


class Limiter(Protocol):
    async def check(self, key: str) -> float:
        """0 when the request may go ahead (and is counted), else seconds until it may."""
        ...

    async def aclose(self) -> None: ...


def client_key(address: str) -> str:
    """The bucket of a client address: IPv4 as is, IPv6 by its /64 network."""
    if ":" not in address:  # IPv4 (or "unknown"): the common case, no parsing needed
        return address
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


class MemoryLimiter:
    """Token buckets in a dict kept in least-recently-used order, at most ``max_keys`` of them.

    A new key past the cap evicts the least recently seen one in O(1). An evicted client
    starts again with a full bucket, so the cap must exceed the clients active in one refill
    period (``per_minute`` requests take a minute to refill); 100,000 buckets cost ~15 MB.
    """

    def __init__(
        self, per_minute: int, *, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self.clock = clock
        self.buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def check(self, key: str) -> float:
        return self.take(key)

    def take(self, key: str) -> float:
        now = self.clock()
        bucket = self.buckets.pop(key, None)
        tokens, last = bucket if bucket is not None else (self.capacity, now)
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1.0:
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self.rate
        self.buckets[key] = (tokens, now)
        if len(self.buckets) > self.max_keys:
            self.buckets.popitem(last=False)
        return wait

    async def aclose(self) -> None:
        return None
