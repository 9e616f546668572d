"""The retry schedule: Standard Webhooks steps, jittered, never shorter than Retry-After."""

from __future__ import annotations

import random

import pytest

from flipgen.webhooks.schedule import SCHEDULE, RetryPolicy, policy_from_env


def test_schedule_is_the_standard_one() -> None:
    assert SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    assert RetryPolicy().max_attempts == 10


def test_each_delay_is_jittered_within_ten_percent() -> None:
    policy = RetryPolicy(rng=random.Random(7))
    for step, base in enumerate(SCHEDULE, start=1):
        delays = {policy.delay(step) for _ in range(50)}
        assert all(d is not None and 0.9 * base <= d <= 1.1 * base for d in delays)
        assert len(delays) > 1  # jittered, not fixed


def test_gives_up_after_the_last_step() -> None:
    policy = RetryPolicy()
    assert policy.delay(len(SCHEDULE)) is not None
    assert policy.delay(len(SCHEDULE) + 1) is None


def test_retry_after_lengthens_but_never_shortens() -> None:
    policy = RetryPolicy(jitter=0.0)
    assert policy.delay(1, retry_after=120) == 120
    assert policy.delay(2, retry_after=3) == 300
    assert policy.delay(1, retry_after=10 * 86400) == 86400  # capped at a day


def test_scale_shrinks_the_schedule_not_retry_after() -> None:
    policy = RetryPolicy(jitter=0.0, scale=0.001)
    assert policy.delay(1) == pytest.approx(0.005)
    assert policy.delay(1, retry_after=2) == 2


def test_scale_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLIPGEN_WEBHOOK_RETRY_SCALE", "0.01")
    assert policy_from_env().scale == 0.01
    monkeypatch.setenv("FLIPGEN_WEBHOOK_RETRY_SCALE", "nonsense")
    assert policy_from_env().scale == 1.0
