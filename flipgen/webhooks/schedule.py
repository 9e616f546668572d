"""When to try a delivery again: the Standard Webhooks schedule, jittered, honouring Retry-After.

The first attempt is immediate; after each failure the next one waits 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 14 h, 20 h, then 24 h, and after that the delivery is given up (``failed``;
``flipgen webhooks retry`` revives it). Each wait is jittered by ±10 % so that the deliveries
of one outage do not all come back at the same second. A receiver's ``Retry-After`` can only
make a wait longer, never shorter: the schedule protects the receiver.

``scale`` shrinks the schedule (not ``Retry-After``, which is the receiver's wall-clock
request) so tests run in seconds; ``FLIPGEN_WEBHOOK_RETRY_SCALE`` sets it for a server process.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

__all__ = ["SCHEDULE", "RetryPolicy", "policy_from_env"]

SCHEDULE: tuple[float, ...] = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 14 * 3600, 20 * 3600, 24 * 3600)
MAX_RETRY_AFTER = 24 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    schedule: tuple[float, ...] = SCHEDULE
    jitter: float = 0.1
    scale: float = 1.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    @property
    def max_attempts(self) -> int:
        """The first attempt plus one per step of the schedule."""
        return len(self.schedule) + 1

    def delay(self, failed_attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds to wait after the ``failed_attempts``-th failure, or None to give up."""
        if failed_attempts < 1 or failed_attempts > len(self.schedule):
            return None
        base = self.schedule[failed_attempts - 1] * self.scale
        wait = base * (1 + self.rng.uniform(-self.jitter, self.jitter))
        if retry_after is not None:
            wait = max(wait, min(retry_after, MAX_RETRY_AFTER))
        return wait


def policy_from_env() -> RetryPolicy:
    """The default policy, scaled by ``FLIPGEN_WEBHOOK_RETRY_SCALE`` when set (tests only)."""
    raw = os.environ.get("FLIPGEN_WEBHOOK_RETRY_SCALE", "").strip()
    try:
        scale = float(raw) if raw else 1.0
    except ValueError:
        scale = 1.0
    return RetryPolicy(scale=scale if scale > 0 else 1.0)
