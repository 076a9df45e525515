"""The per-key rate limit behind TURN credentials, on a fake clock."""

from __future__ import annotations

import pytest

from gateway.access.rate import RateLimit
from gateway.clock import FakeClock

pytestmark = pytest.mark.timeout(10)


def test_a_key_gets_its_burst_then_one_more_per_refill_interval():
    clock = FakeClock()
    limit = RateLimit(clock, per_minute=6, burst=3)
    assert [limit.allow("a") for _ in range(5)] == [True, True, True, False, False]
    clock.advance(9.9)
    assert not limit.allow("a")  # a token every 10 s
    clock.advance(0.2)
    assert limit.allow("a") and not limit.allow("a")
    assert limit.allow("b")  # other keys are untouched


def test_tokens_never_pile_up_past_the_burst():
    clock = FakeClock()
    limit = RateLimit(clock, per_minute=60, burst=2)
    limit.allow("a")
    clock.advance(3600)
    assert [limit.allow("a") for _ in range(3)] == [True, True, False]


def test_the_keys_are_bounded():
    limit = RateLimit(FakeClock(), per_minute=1, burst=1, max_keys=100)
    for i in range(1_000):
        limit.allow(f"10.0.{i // 256}.{i % 256}")
    assert len(limit) == 100
