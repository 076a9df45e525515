"""When the far end will run out of a turn's audio, for a wire it paces itself.

Audio plays back to back from the moment each piece could first play (sent
after a dry spell, it starts when sent), delayed by the far end's own latency:
the network and its jitter buffer. A confirmation says the far end had played
a point by the time the gateway read it, which is an upper bound on that
latency, loose by however late the loop read it. The least of the last few
such bounds is the estimate: one of them read promptly is enough, so a stall
(the thing that causes the gaps) cannot talk the estimate up, while a far end
whose delay really grew (a loaded network, a far end that started a turn
late) raises it within a few confirmations.
"""

from __future__ import annotations

from collections import deque

from gateway.clock import Clock

SENDS_KEPT = 256
"""Send times kept for the live turn: more than a 5 s window of 20 ms sends."""
DELAYS_KEPT = 8
"""Confirmations the delay is the least of: about 1.3 s of marks at 160 ms."""


class FarEndDrain:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._delays: deque[float] = deque(maxlen=DELAYS_KEPT)
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
        self._delays.append(max(0.0, self.clock.now() - earliest))

    @property
    def latency_s(self) -> float:
        """The far end's playout delay: the least the last few confirmations showed."""
        return min(self._delays, default=0.0)

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
        """When the far end has played everything of the turn sent so far;
        None until a confirmation has shown the far end's delay (a call's first
        fraction of a second), for a turn not being sent, or a cleared one."""
        if turn_id != self._turn or not self._delays:
            return None
        return self._drains_at + self.latency_s
