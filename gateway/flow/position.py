"""Playout position per turn: confirmed points plus elapsed time, capped."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from gateway.clock import Clock
from gateway.flow.drain import FarEndDrain


@dataclass(slots=True)
class _Turn:
    anchor_t: float
    anchor_ms: int
    confirmed_ms: int
    sent_ms: int
    cleared_at_ms: int | None = None
    """Set by a clear: nothing past it will play, and later acks change nothing."""


class TurnPositions:
    """The far end confirms points ("everything up to here has played"); between
    confirmations playout runs in real time, but never past what was sent (or a
    tighter cap the caller knows, such as the next pending mark). Before the
    first confirmation of a turn the anchor is its first send.
    """

    def __init__(self, clock: Clock, kept: int = 4, drain: bool = True) -> None:
        """`drain`: keep the far end's drain estimate (drain.py); a wire the
        gateway paces itself has its pacer instead, and skips it per frame."""
        self.clock = clock
        self.kept = kept
        self._turns: OrderedDict[int, _Turn] = OrderedDict()
        self.drain = FarEndDrain(clock) if drain else None

    def on_sent(self, turn_id: int, offset_ms: int, end_ms: int) -> None:
        turn = self._turns.get(turn_id)
        if turn is None:
            turn = _Turn(self.clock.now(), offset_ms, 0, 0)
            self._turns[turn_id] = turn
            while len(self._turns) > self.kept:
                self._turns.popitem(last=False)
        turn.sent_ms = max(turn.sent_ms, end_ms)
        if self.drain is not None:
            self.drain.sent(turn_id, offset_ms, end_ms)

    def sent_ms(self, turn_id: int) -> int:
        turn = self._turns.get(turn_id)
        return turn.sent_ms if turn else 0

    def confirm(self, turn_id: int, position_ms: int) -> bool:
        """Returns False for a turn never sent or a position beyond what was sent."""
        turn = self._turns.get(turn_id)
        if turn is None or position_ms > turn.sent_ms or position_ms < 0:
            return False
        if turn.cleared_at_ms is not None:
            # An ack that crossed our clear on the wire: plausible, and too late to matter.
            return True
        turn.anchor_t = self.clock.now()
        turn.anchor_ms = position_ms
        turn.confirmed_ms = max(turn.confirmed_ms, position_ms)
        if self.drain is not None:
            self.drain.confirmed(turn_id, position_ms)
        return True

    def confirmed_ms(self, turn_id: int) -> int:
        turn = self._turns.get(turn_id)
        return turn.confirmed_ms if turn else 0

    def anchor_ms(self, turn_id: int) -> int:
        turn = self._turns.get(turn_id)
        return turn.anchor_ms if turn else 0

    def position_ms(self, turn_id: int, cap_ms: int | None = None) -> int:
        turn = self._turns.get(turn_id)
        if turn is None:
            return 0
        cap = turn.sent_ms if cap_ms is None else min(cap_ms, turn.sent_ms)
        if turn.cleared_at_ms is not None:
            cap = min(cap, turn.cleared_at_ms)
        elapsed_ms = round((self.clock.now() - turn.anchor_t) * 1000)
        return max(turn.anchor_ms, min(turn.anchor_ms + elapsed_ms, cap))

    def dry_at(self, turn_id: int) -> float | None:
        """When the far end will have played all of the turn sent so far
        (drain.py); None for a turn never sent, or cleared."""
        return self.drain.dry_at(turn_id) if self.drain is not None else None

    def rewind(self, turn_id: int, from_ms: int) -> None:
        """After a clear, the turn is sent again from `from_ms`: positions run
        from there, and acks count again (those that crossed the clear named
        audio past `from_ms` and are refused as never sent)."""
        turn = self._turns.get(turn_id)
        if turn is None:
            return
        turn.cleared_at_ms = None
        turn.sent_ms = from_ms
        turn.anchor_ms = from_ms
        turn.anchor_t = self.clock.now()
        if self.drain is not None:
            self.drain.restart(turn_id)
        turn.confirmed_ms = min(turn.confirmed_ms, from_ms)

    def truncate(self, turn_id: int, heard_ms: int) -> None:
        """After a clear: nothing past `heard_ms` of the turn will ever play."""
        turn = self._turns.get(turn_id)
        if self.drain is not None:
            self.drain.forget(turn_id)
        if turn is not None:
            turn.cleared_at_ms = heard_ms
            turn.anchor_ms = heard_ms
            turn.anchor_t = self.clock.now()
