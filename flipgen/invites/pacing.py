"""Client-side pacing for Smile's limit of 20 requests per second per IP.

A GCRA (generic cell rate algorithm, the "virtual scheduling" form of a token bucket) on the
monotonic clock: each request start is scheduled at least ``1/rate`` after the previous one,
with up to ``burst`` allowed back to back. It keeps one number (the theoretical arrival time),
never drifts with wall-clock changes, and a ``429`` pauses every sender at once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Pacer", "SMILE_LIMIT", "DEFAULT_RATE"]

# Smile's documented limit (requests per second per IP, all endpoints together).
SMILE_LIMIT = 20.0
# One under the limit: requests paced exactly 50 ms apart can still arrive 21 to a second
# when the network delays the first of them a little.
DEFAULT_RATE = 19.0


class Pacer:
    """At most ``rate`` request starts per second (``burst`` at once), shared by every task."""

    def __init__(
        self,
        rate: float = DEFAULT_RATE,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if not 0 < rate <= SMILE_LIMIT:
            raise ValueError(f"rate must be above 0 and at most {SMILE_LIMIT:g} requests per second")
        self.interval = 1.0 / rate
        self.tolerance = (max(1, burst) - 1) * self.interval
        self._clock = clock
        self._sleep = sleep
        self._tat = clock()  # theoretical arrival time of the next request
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        """Wait until a request may start (in call order)."""
        async with self._lock:
            while True:
                now = self._clock()
                start = max(self._tat - self.tolerance, self._paused_until)
                if start <= now:
                    self._tat = max(self._tat, now) + self.interval
                    return
                await self._sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Hold every request back for ``seconds`` (Smile answered 429 with ``Retry-After``)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
