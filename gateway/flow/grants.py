"""Credit granted by the far end in milliseconds, with played-position acks
(the browser WebSocket protocol). Sans-I/O: no sockets, an injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audio.frames import AudioChunk
from gateway.clock import Clock
from gateway.flow.confirmation import (
    INVALID,
    NOTHING,
    Cleared,
    Confirmation,
    Confirmed,
    Mark,
    PlayedTo,
    RanDry,
    RoomGranted,
)
from gateway.flow.credit import CreditWindow
from gateway.flow.position import TurnPositions


class BadGrant(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Grant:
    returned_ms: int
    stale: bool
    """Granted before the far end saw our last clear: that credit was already returned."""


class GrantTracker:
    """The far end starts with `window.limit_ms` of room and grants milliseconds
    back as it plays. Every clear starts a new epoch: the far end tags grants
    with the epoch it is in, so credit for audio a clear dropped (and the clear
    already returned) is never returned twice.
    """

    def __init__(self, window: CreditWindow, clock: Clock, paced: bool = False) -> None:
        """`paced`: the gateway paces this wire itself (WebRTC), so no drain estimate."""
        self.window = window
        self.positions = TurnPositions(clock, drain=not paced)
        self.epoch = 0

    def needs_flush_before(self, turn_id: int) -> bool:
        return False  # positions come from acks, not marks

    def flush(self) -> Mark | None:
        return None

    def until_mark_ms(self) -> int:
        return self.window.limit_ms  # no marks: only the window bounds a batch

    def on_sent(self, chunk: AudioChunk) -> Mark | None:
        self.window.sent(chunk.duration_ms)
        self.positions.on_sent(chunk.turn_id, chunk.offset_ms, chunk.end_ms)
        return None

    def on_grant(self, ms: int, epoch: int) -> Grant:
        if not isinstance(ms, int) or isinstance(ms, bool) or ms < 0:
            raise BadGrant(f"a grant must be a non-negative whole number of ms, got {ms!r}")
        if ms > self.window.limit_ms:
            raise BadGrant(f"a grant of {ms} ms exceeds the {self.window.limit_ms} ms window")
        if epoch != self.epoch:
            return Grant(returned_ms=0, stale=True)
        return Grant(returned_ms=self.window.returned(ms), stale=False)

    def on_played(self, turn_id: int, position_ms: int) -> bool:
        """The far end has played the turn up to `position_ms`; False if that is impossible."""
        return self.positions.confirm(turn_id, position_ms)

    def confirm(self, confirmation: Confirmation) -> Confirmed:
        """Raises BadGrant for a grant no far end could send."""
        match confirmation:
            case RoomGranted(ms, epoch):
                return Confirmed(True, self.on_grant(ms, epoch).returned_ms)
            case PlayedTo(turn_id, position_ms):
                if not self.on_played(turn_id, position_ms):
                    return INVALID
                return Confirmed(True, 0, turn_id, position_ms)
            case RanDry(_):
                return NOTHING
        return INVALID

    def confirmed_ms(self, turn_id: int) -> int:
        return self.positions.confirmed_ms(turn_id)

    def position_ms(self, turn_id: int) -> int:
        return self.positions.position_ms(turn_id)

    def dry_at(self, turn_id: int) -> float | None:
        return self.positions.dry_at(turn_id)

    def rewind(self, turn_id: int, from_ms: int) -> None:
        """The cleared turn resumes from `from_ms` (a backchannel did not cut it)."""
        self.positions.rewind(turn_id, from_ms)

    def clear(self, turn_id: int) -> Cleared:
        heard = self.position_ms(turn_id)
        dropped = self.window.reset()
        self.positions.truncate(turn_id, heard)
        self.epoch += 1
        return Cleared(turn_id=turn_id, dropped_ms=dropped, heard_ms=heard)
