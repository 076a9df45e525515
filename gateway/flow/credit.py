"""How many milliseconds of audio the far end has agreed to hold."""

from __future__ import annotations


class CreditWindow:
    """Credit accounting in milliseconds of audio.

    `in_flight_ms` is audio sent and not yet confirmed played (or discarded).
    The sender may only send while `in_flight_ms + ms <= limit_ms`. Returned
    credit never takes `in_flight_ms` below zero: a confirmation that arrives
    twice, or after a clear already returned everything, changes nothing and
    is counted in `excess_returned_ms` so that the bug shows in metrics.
    """

    def __init__(self, limit_ms: int) -> None:
        if limit_ms <= 0:
            raise ValueError("the window must hold some audio")
        self.limit_ms = limit_ms
        self.in_flight_ms = 0
        self.peak_in_flight_ms = 0
        self.excess_returned_ms = 0

    @property
    def available_ms(self) -> int:
        return max(0, self.limit_ms - self.in_flight_ms)

    def can_send(self, ms: int) -> bool:
        return self.in_flight_ms + ms <= self.limit_ms

    def sent(self, ms: int) -> None:
        if not self.can_send(ms):
            raise OverflowError(
                f"sending {ms} ms would put {self.in_flight_ms + ms} ms in flight "
                f"over a {self.limit_ms} ms window"
            )
        self.in_flight_ms += ms
        self.peak_in_flight_ms = max(self.peak_in_flight_ms, self.in_flight_ms)

    def returned(self, ms: int) -> int:
        """The far end confirmed `ms` as played or discarded; returns credit taken back."""
        if ms < 0:
            raise ValueError("returned credit cannot be negative")
        taken = min(ms, self.in_flight_ms)
        self.excess_returned_ms += ms - taken
        self.in_flight_ms -= taken
        return taken

    def reset(self) -> int:
        """The far end dropped everything it held; returns what was in flight."""
        dropped = self.in_flight_ms
        self.in_flight_ms = 0
        return dropped
