"""When each packet or segment of a relayed stream is delivered (sans-I/O).

UDP: each datagram independently gets the one-way delay plus half-normal
jitter, may be lost, and may overtake another (as on a real path). TCP: the
byte stream stays in order, so a segment never leaves before the one ahead of
it; a lost segment is retransmitted after a retransmission timeout, and
everything behind it waits too (head-of-line blocking), which is how loss
feels on a WebSocket. A bandwidth cap serializes packets at the link rate.
"""

from __future__ import annotations

import random

from gateway.compare.profiles import Profile

RTO_S = 0.2
"""Linux's minimum retransmission timeout."""


class Impairment:
    def __init__(self, profile: Profile, ordered: bool, seed: int = 0) -> None:
        self.profile = profile
        self.ordered = ordered
        self.rng = random.Random(seed)
        self._last_delivery = 0.0
        self._link_free_at = 0.0
        self.sent = 0
        self.lost = 0

    def schedule(self, now: float, size: int) -> float | None:
        """Delivery instant for a packet of `size` bytes sent at `now`; None if lost (UDP)."""
        p = self.profile
        self.sent += 1
        start = now
        if p.rate_kbit > 0:
            # Serialized at the link rate: it arrives once its last bit is through.
            start = max(now, self._link_free_at) + size * 8 / (p.rate_kbit * 1000)
            self._link_free_at = start
        delay = p.delay_ms / 1000 + abs(self.rng.gauss(0.0, p.jitter_ms / 1000))
        if p.loss and self.rng.random() < p.loss:
            self.lost += 1
            if not self.ordered:
                return None
            delay += RTO_S  # retransmitted; everything behind it waits
        at = start + delay
        if self.ordered:
            at = max(at, self._last_delivery)
            self._last_delivery = at
        return at
