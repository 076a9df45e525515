"""How much caller audio a call accepts: real time, plus a burst.

A caller sends audio at the pace it speaks. One that sends faster than real
time (a flood, a buggy client) would queue VAD windows and recognition jobs
that every other call on the process waits behind. A token bucket in
milliseconds of audio admits real time and a burst (a network stall delivers
the frames it held up all at once); the rest is dropped and counted.
"""

from __future__ import annotations

from gateway.clock import Clock


class InboundBudget:
    def __init__(self, clock: Clock, burst_ms: int) -> None:
        if burst_ms < 20:
            raise ValueError("the burst must hold at least one 20 ms frame")
        self.clock = clock
        self.burst_ms = burst_ms
        self._tokens_ms = float(burst_ms)
        self._at = clock.now()
        self.dropped_ms = 0

    def admit(self, ms: int) -> bool:
        """True if `ms` of caller audio may go on; False (and counted) if it is surplus."""
        now = self.clock.now()
        self._tokens_ms = min(self.burst_ms, self._tokens_ms + (now - self._at) * 1000)
        self._at = now
        if ms <= self._tokens_ms:
            self._tokens_ms -= ms
            return True
        self.dropped_ms += ms
        return False
