"""What the forwarder did to every packet, and whether that is the profile.

The record keeps each packet's times up to `MAX_PACKETS` a direction (a long
comparison run stays bounded; past that only the counts go on). The
calibration sets the achieved figures beside the profile's targets, and marks
the direction invalid when one misses by more than its tolerance:

- delay: the mean one-way delay the impairment added, within 2 ms + 10 % of
  the target. Excluded, and reported apart: queueing at the rate cap, and
  time held behind an earlier packet of the same flow (the profile describes
  neither; both depend on the traffic). Included: the forwarder's own
  lateness;
- jitter: the standard deviation of that delay, within 1.5 ms + 20 %;
- loss: the profile's loss among the packets the rate cap's queue let
  through (its drops are counted apart),
  within three standard deviations of the binomial (widened for bursts) plus
  0.2 %;
- throughput: never above the rate cap, with 5 % for timer granularity.

The forwarder's own latency (how late it wrote a packet after its scheduled
instant) is reported beside them and subtracted from nothing.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import asdict, dataclass, field

import numpy as np

from gateway.compare.netpath.packets import Fate, target_delay_ms
from gateway.compare.profiles import Profile

MAX_PACKETS = 500_000


class DirectionRecord:
    def __init__(self) -> None:
        self.sent = 0
        self.lost = 0
        self.queue_drops = 0
        self.delivered_bytes = 0
        self.max_size = 0
        self.first_read: float | None = None
        self.last_write = 0.0
        self._read = array("d")
        self._added = array("d")  # delay and jitter as applied: queueing and holding excluded
        self._held = array("d")
        self._write = array("d")
        self._late = array("d")  # written this long after the scheduled instant

    def read(self, now: float, size: int) -> None:
        self.sent += 1
        self.max_size = max(self.max_size, size)
        if self.first_read is None:
            self.first_read = now

    def dropped(self, reason: str) -> None:
        if reason == "queue":
            self.queue_drops += 1
        else:
            self.lost += 1

    def written(self, read_at: float, fate: Fate, now: float, size: int) -> None:
        self.delivered_bytes += size
        self.last_write = now
        if len(self._read) < MAX_PACKETS and fate.at is not None:
            self._read.append(read_at)
            self._added.append(now - read_at - fate.link_s - fate.held_s)
            self._held.append(fate.held_s)
            self._write.append(now)
            self._late.append(now - fate.at)

    def summary(self) -> dict:
        added = np.frombuffer(self._added, dtype=np.float64) * 1000
        read = np.frombuffer(self._read, dtype=np.float64)
        write = np.frombuffer(self._write, dtype=np.float64)
        late = np.frombuffer(self._late, dtype=np.float64) * 1000
        held = np.frombuffer(self._held, dtype=np.float64) * 1000
        order = np.argsort(read, kind="stable")
        writes_in_send_order = write[order]
        earlier_max = np.maximum.accumulate(writes_in_send_order)
        reordered = int(np.count_nonzero(writes_in_send_order[1:] < earlier_max[:-1]))
        # RFC 3550's interarrival jitter over the delivered packets, in send order.
        transit = (write - read)[order] * 1000
        jitter = 0.0
        for d in np.abs(np.diff(transit)):
            jitter += (d - jitter) / 16
        span = self.last_write - (self.first_read or self.last_write)
        throughput = self.delivered_bytes * 8 / span / 1000 if span > 0 else 0.0
        offered = self.sent - self.queue_drops  # what reached the loss stage
        held_share = float(np.count_nonzero(held)) / held.size if held.size else 0.0
        q = (lambda p: round(float(np.percentile(added, p)), 2)) if added.size else (lambda p: None)
        return {
            "sent": self.sent,
            "delivered": self.sent - self.lost - self.queue_drops,
            "lost": self.lost,
            "queue_drops": self.queue_drops,
            "loss": round(self.lost / offered, 5) if offered else 0.0,
            "delay_mean_ms": round(float(added.mean()), 2) if added.size else None,
            "delay_sd_ms": round(float(added.std()), 2) if added.size else None,
            "delay_p50_ms": q(50),
            "delay_p95_ms": q(95),
            "delay_p99_ms": q(99),
            "interarrival_jitter_ms": round(jitter, 2),
            "held_for_order": round(held_share, 4),
            "held_mean_ms": round(float(held.mean()), 2) if held.size else 0.0,
            "reordered": reordered,
            "throughput_kbit": round(throughput, 1),
            "max_packet_bytes": self.max_size,
            "forwarder_late_ms": {"p50": round(float(np.percentile(late, 50)), 3),
                                  "p99": round(float(np.percentile(late, 99)), 3)}
            if late.size else None,
        }  # fmt: skip


@dataclass
class Verdict:
    valid: bool
    misses: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


def judge(profile: Profile, achieved: dict) -> Verdict:
    """Achieved figures of one direction against the profile's targets."""
    misses = []
    mean, sd = target_delay_ms(profile)
    if achieved["delay_mean_ms"] is not None:
        if abs(achieved["delay_mean_ms"] - mean) > 2 + 0.1 * mean:
            misses.append(f"delay mean {achieved['delay_mean_ms']} ms, target {mean:.1f}")
        if abs(achieved["delay_sd_ms"] - sd) > 1.5 + 0.2 * sd:
            misses.append(f"jitter sd {achieved['delay_sd_ms']} ms, target {sd:.1f}")
    n, p = achieved["sent"] - achieved["queue_drops"], profile.loss
    if n:
        inflation = 2 * profile.loss_burst - 1  # variance of bursty loss over independent
        allowed = 3 * math.sqrt(max(p * (1 - p), 1 / n) * inflation / n) + 0.002
        if abs(achieved["loss"] - p) > allowed:
            misses.append(f"loss {achieved['loss']:.4f}, target {p} (± {allowed:.4f})")
    if profile.rate_kbit and achieved["throughput_kbit"] > profile.rate_kbit * 1.05:
        misses.append(f"throughput {achieved['throughput_kbit']} kbit/s over the cap")
    return Verdict(not misses, misses)
