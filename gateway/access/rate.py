"""A per-key rate limit (a token bucket per key), sans-I/O with an injected
clock: for things a caller may ask for now and then but never in bulk, such as
TURN credentials. Bounded: past `max_keys` the least recently seen key goes."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable

from gateway.clock import Clock


class RateLimit:
    def __init__(
        self, clock: Clock, per_minute: float, burst: int, max_keys: int = 10_000
    ) -> None:
        self.clock = clock
        self.rate_per_s = per_minute / 60
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()
        """key -> (tokens left, when they were counted)"""

    def allow(self, key: Hashable) -> bool:
        """Takes one token for `key` if it has one; False when it asks too often."""
        now = self.clock.now()
        tokens, then = self._buckets.pop(key, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - then) * self.rate_per_s)
        allowed = tokens >= 1
        self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        return allowed

    def __len__(self) -> int:
        return len(self._buckets)
