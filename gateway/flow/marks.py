"""Marks: named points in the outbound stream that the far end echoes once the
audio before them has played (Twilio's `mark`). Echoes return credit and move
the playout position; a clear voids every mark still pending.
"""

from __future__ import annotations

from collections import deque
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
    PointReached,
)
from gateway.flow.credit import CreditWindow
from gateway.flow.position import TurnPositions


@dataclass(frozen=True, slots=True)
class Echo:
    mark: Mark | None
    returned_ms: int
    voided: bool = False
    """Echoed for audio a clear already dropped: no credit, no position."""

    @property
    def unknown(self) -> bool:
        return self.mark is None and not self.voided


class MarkTracker:
    """Places marks every `interval_ms` of sent audio and turns echoes into
    credit and playout position.

    Playout position of a turn = the position of its last echoed mark, plus the
    time since that echo, capped at the next pending mark (or at what was sent).
    """

    def __init__(self, window: CreditWindow, clock: Clock, interval_ms: int = 160) -> None:
        if interval_ms <= 0:
            raise ValueError("mark interval must be positive")
        self.window = window
        self.clock = clock
        self.interval_ms = interval_ms
        # Every pending mark covers at least one frame of in-flight audio, so
        # the window bounds how many can be pending.
        max_pending = window.limit_ms // 10 + 2
        self._pending: deque[Mark] = deque(maxlen=max_pending)
        self._voided: deque[str] = deque(maxlen=max_pending)
        self.positions = TurnPositions(clock)
        self._unmarked_ms = 0
        self._unmarked_turn: int | None = None
        self._seq = 0

    @property
    def pending(self) -> int:
        return len(self._pending)

    def on_sent(self, chunk: AudioChunk) -> Mark | None:
        """Record a chunk handed to the wire; returns a mark to send after it, if due."""
        if self.needs_flush_before(chunk.turn_id):
            # A mark names one turn; the old turn's tail needs its own mark first.
            raise RuntimeError("flush() the previous turn's audio before sending a new turn")
        mark = None
        self.window.sent(chunk.duration_ms)
        self.positions.on_sent(chunk.turn_id, chunk.offset_ms, chunk.end_ms)
        self._unmarked_ms += chunk.duration_ms
        self._unmarked_turn = chunk.turn_id
        if self._unmarked_ms >= self.interval_ms:
            mark = self.flush()
        return mark

    def until_mark_ms(self) -> int:
        """Audio that may still be sent before the next mark is due."""
        return max(0, self.interval_ms - self._unmarked_ms)

    def needs_flush_before(self, turn_id: int) -> bool:
        return self._unmarked_turn is not None and self._unmarked_turn != turn_id

    def flush(self) -> Mark | None:
        """Mark all audio sent since the last mark (idle, end of turn, turn change)."""
        if self._unmarked_ms == 0 or self._unmarked_turn is None:
            return None
        self._seq += 1
        turn_id = self._unmarked_turn
        mark = Mark(
            name=f"{turn_id}:{self._seq}",
            turn_id=turn_id,
            turn_pos_ms=self.positions.sent_ms(turn_id),
            covers_ms=self._unmarked_ms,
        )
        self._pending.append(mark)
        self._unmarked_ms = 0
        self._unmarked_turn = None
        return mark

    def on_echo(self, name: str) -> Echo:
        if name in self._voided:
            self._voided.remove(name)
            return Echo(mark=None, returned_ms=0, voided=True)
        if not any(m.name == name for m in self._pending):
            return Echo(mark=None, returned_ms=0)
        # Echoes come in order; an echo also confirms every mark before it.
        returned = 0
        while True:
            mark = self._pending.popleft()
            returned += self.window.returned(mark.covers_ms)
            if mark.name == name:
                break
        self.positions.confirm(mark.turn_id, mark.turn_pos_ms)
        return Echo(mark=mark, returned_ms=returned)

    def confirm(self, confirmation: Confirmation) -> Confirmed:
        if not isinstance(confirmation, PointReached):
            return INVALID  # this wire confirms by echoed points only
        echo = self.on_echo(confirmation.name)
        if echo.unknown:
            return INVALID
        if echo.mark is None:
            return NOTHING
        return Confirmed(True, echo.returned_ms, echo.mark.turn_id, echo.mark.turn_pos_ms)

    def confirmed_ms(self, turn_id: int) -> int:
        """Playout of the turn confirmed by echoes alone."""
        return self.positions.confirmed_ms(turn_id)

    def position_ms(self, turn_id: int) -> int:
        """Estimated playout position of the turn now."""
        anchor = self.positions.anchor_ms(turn_id)
        cap = next(
            (
                m.turn_pos_ms
                for m in self._pending
                if m.turn_id == turn_id and m.turn_pos_ms > anchor
            ),
            None,
        )
        return self.positions.position_ms(turn_id, cap)

    def dry_at(self, turn_id: int) -> float | None:
        return self.positions.dry_at(turn_id)

    def rewind(self, turn_id: int, from_ms: int) -> None:
        """The cleared turn resumes from `from_ms` (a backchannel did not cut it)."""
        self.positions.rewind(turn_id, from_ms)

    def clear(self, turn_id: int) -> Cleared:
        """The far end is told to drop what it holds: void pending marks, return all credit."""
        heard = self.position_ms(turn_id)
        for mark in self._pending:
            self._voided.append(mark.name)
        self._pending.clear()
        self._unmarked_ms = 0
        self._unmarked_turn = None
        dropped = self.window.reset()
        self.positions.truncate(turn_id, heard)
        return Cleared(turn_id=turn_id, dropped_ms=dropped, heard_ms=heard)


__all__ = ["Cleared", "Echo", "Mark", "MarkTracker"]
