"""What happens to each IP packet on an impaired path, one direction (sans-I/O).

- **Rate cap**: packets are serialized at the profile's rate behind a drop-tail
  queue that holds at most `QUEUE_MS` of transmission; a packet that finds it
  full is dropped, as a router's would be. TCP sees that loss and slows down.
- **Delay and jitter**: the profile's one-way delay plus a half-normal extra
  delay with the profile's `jitter_ms` as its scale, drawn for every packet
  independently. A packet never overtakes an earlier one of the same flow
  (addresses, protocol and ports): it is held until that one has gone, as on a
  real path, where flows keep their order and TCP would take reordering for
  loss. Packets of different flows may pass each other. A flow sending faster
  than the jitter changes (a TCP bulk transfer) therefore arrives in bunches;
  the held time is reported apart. `ordered=False` lets every packet go at its
  own instant, as Linux netem's jitter does.
- **Loss**: independent with probability `loss`, or in bursts (Gilbert's
  two-state model) when `loss_burst` > 1: the same mean loss, with lost runs
  `loss_burst` packets long on average.

Each call returns the delivery instant, or None with the reason it was lost.
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from dataclasses import dataclass

from gateway.compare.profiles import Profile

QUEUE_MS = 200.0
"""The rate cap's queue, in milliseconds of transmission at the cap."""


MAX_FLOWS = 4096
"""Flows whose order is kept; the least recently seen is forgotten first."""


@dataclass(frozen=True)
class Fate:
    at: float | None
    """Delivery instant; None when lost."""
    reason: str = ""
    """"loss" (the profile's loss) or "queue" (the rate cap's full queue)."""
    link_s: float = 0.0
    """Queueing and serialization at the rate cap: the part of the delay the
    profile's `delay_ms` and `jitter_ms` do not describe."""
    drawn_s: float = 0.0
    """The delay and jitter drawn for this packet."""
    held_s: float = 0.0
    """Held behind an earlier packet of its flow."""


class GilbertLoss:
    """Two states: every packet is lost in Bad and none in Good. Entering Bad
    with probability p / (B (1 - p)) and leaving it with 1 / B gives a mean
    loss of p in runs B packets long on average."""

    def __init__(self, loss: float, burst: float, rng: random.Random) -> None:
        self.leave_bad = 1.0 / burst
        self.enter_bad = min(1.0, loss / (burst * (1.0 - loss))) if loss < 1 else 1.0
        self.bad = False
        self.rng = rng

    def lost(self) -> bool:
        if self.bad:
            self.bad = self.rng.random() >= self.leave_bad
        else:
            self.bad = self.rng.random() < self.enter_bad
        return self.bad


class PacketImpairment:
    def __init__(self, profile: Profile, seed: int = 0, ordered: bool = True) -> None:
        self.profile = profile
        self.ordered = ordered
        self.rng = random.Random(seed)
        self._burst = (
            GilbertLoss(profile.loss, profile.loss_burst, self.rng)
            if profile.loss and profile.loss_burst > 1
            else None
        )
        self._link_free_at = 0.0
        self._flows: OrderedDict[bytes, float] = OrderedDict()  # flow -> its last delivery

    def _lost(self) -> bool:
        if self._burst is not None:
            return self._burst.lost()
        return bool(self.profile.loss) and self.rng.random() < self.profile.loss

    def schedule(self, now: float, size: int, flow: bytes = b"") -> Fate:
        p = self.profile
        start = now
        if p.rate_kbit > 0:
            backlog_ms = (self._link_free_at - now) * 1000
            if backlog_ms > QUEUE_MS:
                return Fate(None, "queue")
            start = max(now, self._link_free_at) + size * 8 / (p.rate_kbit * 1000)
            self._link_free_at = start
        if self._lost():
            return Fate(None, "loss")
        drawn = p.delay_ms / 1000 + abs(self.rng.gauss(0.0, p.jitter_ms / 1000))
        at = start + drawn
        held = 0.0
        if self.ordered:
            last = self._flows.pop(flow, 0.0)
            held = max(0.0, last - at)
            at += held
            self._flows[flow] = at
            if len(self._flows) > MAX_FLOWS:
                self._flows.popitem(last=False)
        return Fate(at, link_s=start - now, drawn_s=drawn, held_s=held)


def flow_of(packet: bytes) -> bytes:
    """An IPv4 packet's addresses, protocol and (TCP, UDP) ports; b"" otherwise."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return b""
    header = (packet[0] & 0x0F) * 4
    protocol = packet[9]
    ports = packet[header : header + 4] if protocol in (6, 17) else b""
    return packet[12:20] + bytes([protocol]) + ports


def target_delay_ms(profile: Profile) -> tuple[float, float]:
    """(mean, standard deviation) of the one-way delay the profile asks for,
    before the rate cap's queueing: delay + |N(0, jitter)|."""
    mean = profile.delay_ms + profile.jitter_ms * math.sqrt(2 / math.pi)
    return mean, profile.jitter_ms * math.sqrt(1 - 2 / math.pi)
