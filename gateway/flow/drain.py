"""When the far end will run out of a turn's audio, for a wire it paces itself.

Audio plays back to back from the moment each piece could first play (sent
after a dry spell, it starts when sent), delayed by the far end's own latency:
the network and its jitter buffer. A confirmation says the far end had played
a point by the time the gateway read it, which is an upper bound on that
latency, loose by however late the loop read it. The least such bound over the
call is the estimate: one confirmation read promptly is enough, and a loop
that reads every confirmation late (the stall that causes the gaps) cannot
talk the estimate up.
"""

from __future__ import annotations

from collections import deque

from gateway.clock import Clock

SENDS_KEPT = 256
"""Send times kept for the live turn: more than a 5 s window of 20 ms sends."""


class FarEndDrain:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.latency_s: float | None = None
        """The far end's playout delay: the least any confirmation showed."""
        self._turn: int | None = None
        self._sent_ms = 0
        self._drains_at = 0.0
        self._sends: deque[tuple[int, float]] = deque(maxlen=SENDS_KEPT)
        """(end of a send in its turn, when it would have played out with no delay)"""

    def sent(self, turn_id: int, offset_ms: int, end_ms: int) -> None:
        now = self.clock.now()
        if turn_id != self._turn:
            self._turn, self._sent_ms, self._drains_at = turn_id, offset_ms, now
            self._sends.clear()
        added_ms = end_ms - max(self._sent_ms, offset_ms)
        if added_ms <= 0:
            return
        self._drains_at = max(self._drains_at, now) + added_ms / 1000
        self._sent_ms = end_ms
        self._sends.append((end_ms, self._drains_at))

    def confirmed(self, turn_id: int, position_ms: int) -> None:
        """The far end had played the turn to `position_ms` by now."""
        if turn_id != self._turn:
            return
        while self._sends and self._sends[0][0] < position_ms:
            self._sends.popleft()
        if not self._sends:
            return
        end_ms, played_at = self._sends[0]
        earliest = played_at - (end_ms - position_ms) / 1000
        shown = max(0.0, self.clock.now() - earliest)
        self.latency_s = shown if self.latency_s is None else min(self.latency_s, shown)

    def restart(self, turn_id: int) -> None:
        """The turn is sent again from a resume point: nothing is queued there now."""
        self._turn, self._drains_at = turn_id, self.clock.now()
        self._sent_ms = 0
        self._sends.clear()

    def forget(self, turn_id: int) -> None:
        """Cleared: nothing more of the turn will play."""
        if turn_id == self._turn:
            self._turn = None
            self._sends.clear()

    def dry_at(self, turn_id: int) -> float | None:
        """When the far end has played everything of the turn sent so far."""
        if turn_id != self._turn:
            return None
        return self._drains_at + (self.latency_s or 0.0)
