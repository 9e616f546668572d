"""Limits shared by every worker and host through Redis (``--redis`` / ``FLIPGEN_REDIS_URL``).

Imported only when Redis is configured. Each limit is one atomic Lua script, run with
Redis's own clock, so workers on hosts with skewed clocks agree. Keys start with a prefix
(``flipgen:`` by default) so several deployments can share one Redis.

When Redis cannot be asked, ``fail_open`` decides: True (the default) falls back to this
worker's own in-process counting, so limits still hold per worker; False refuses the request
(503 ``service_unavailable``). One warning line a minute says which.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.exceptions import RedisError

from flipgen.errors import UserError

from .budget import MemoryBudget, Unavailable
from .config import log
from .ratelimit import MemoryLimiter

__all__ = ["RedisBudget", "RedisLimiter", "connect"]

# GCRA: the key holds the "theoretical arrival time" (ms) of the next request; a request is
# allowed when that time is at most `burst` intervals ahead of now. Returns ms to wait.
GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if allow_at > now then return math.ceil(allow_at - now) end
redis.call('SET', KEYS[1], math.ceil(new_tat), 'PX', math.ceil(new_tat - now))
return 0
"""

# A day's mint counter: counted only while under the limit; returns 1 when allowed.
SPEND = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], 172800) end
if n > tonumber(ARGV[1]) then redis.call('DECR', KEYS[1]) return 0 end
return 1
"""

FAILURES = (RedisError, OSError, TimeoutError)


def connect(url: str) -> Redis:
    """An asyncio client with short timeouts: a slow Redis must not hold visitors up."""
    try:
        return Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
    except ValueError as exc:
        raise UserError(f"--redis: not a Redis URL ({exc}); use redis://host:6379/0 or rediss://…") from None


class _Shared:
    def __init__(self, client: Redis, prefix: str, fail_open: bool) -> None:
        self.client = client
        self.prefix = prefix
        self.fail_open = fail_open
        self._warned = 0.0

    def _unavailable(self, exc: BaseException, what: str) -> None:
        now = time.monotonic()
        if now - self._warned > 60:  # one line a minute, not one per request
            self._warned = now
            mode = "counting in this worker instead" if self.fail_open else "refusing requests (fail closed)"
            log.warning("%s: Redis unavailable (%s); %s", what, type(exc).__name__, mode)
        if not self.fail_open:
            raise Unavailable(what) from None


class RedisLimiter(_Shared):
    """Per-client token buckets (``per_minute``, bursts of the same size) in Redis."""

    def __init__(self, client: Redis, per_minute: int, *, prefix: str = "flipgen:", fail_open: bool = True) -> None:
        super().__init__(client, prefix + "rl:", fail_open)
        self.interval_ms = 60_000 / per_minute
        self.burst = per_minute
        self.fallback = MemoryLimiter(per_minute)
        self.script = client.register_script(GCRA)

    async def check(self, key: str) -> float:
        try:
            wait_ms = await self.script(keys=[self.prefix + key], args=[self.interval_ms, self.burst])
        except FAILURES as exc:
            self._unavailable(exc, "rate limit")
            return self.fallback.take(key)
        return int(wait_ms) / 1000.0

    async def aclose(self) -> None:
        await self.client.aclose()


class RedisBudget(_Shared):
    """Mints per site and UTC day, counted in Redis; one warning an hour per exhausted site."""

    def __init__(self, client: Redis, *, prefix: str = "flipgen:", fail_open: bool = True) -> None:
        super().__init__(client, prefix + "budget:", fail_open)
        self.fallback = MemoryBudget()
        self.script = client.register_script(SPEND)

    async def spend(self, site: str, limit: int) -> bool:
        day = datetime.now(UTC).strftime("%Y-%m-%d")
        try:
            return bool(await self.script(keys=[f"{self.prefix}{site}:{day}"], args=[limit]))
        except FAILURES as exc:
            self._unavailable(exc, "mint budget")
            return await self.fallback.spend(site, limit)

    async def first_warning(self, site: str) -> bool:
        try:
            return bool(await self.client.set(f"{self.prefix}warned:{site}", "1", nx=True, ex=3600))
        except FAILURES:
            return await self.fallback.first_warning(site)

    async def aclose(self) -> None:
        await self.client.aclose()
