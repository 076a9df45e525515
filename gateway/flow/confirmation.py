"""The one type a transport reports playout with, whatever its wire says.

A far end confirms playout in one of a few ways: it echoes a named point
(`PointReached`), it grants room back (`RoomGranted`), it states how far into
a turn it has played (`PlayedTo`), or, where the gateway paces the wire
itself, the pacer found nothing to send or sent it too late (`RanDry`). A transport turns its
wire's message into one of these and hands it to `Call.confirm`; the call's
flow control says what it means.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Mark:
    """A named point in the outbound stream the far end confirms once the audio
    before it has played (Twilio's `mark`, or any wire's equivalent)."""

    name: str
    turn_id: int
    turn_pos_ms: int
    """How far into its turn the listener is once this mark is echoed."""
    covers_ms: int
    """Audio sent between the previous mark and this one: the credit it returns."""


@dataclass(frozen=True, slots=True)
class Cleared:
    turn_id: int
    dropped_ms: int
    """Audio in flight when the far end was told to drop it."""
    heard_ms: int
    """Estimated playout position of the turn at the clear."""


@dataclass(frozen=True, slots=True)
class PointReached:
    name: str


@dataclass(frozen=True, slots=True)
class RoomGranted:
    ms: int
    epoch: int


@dataclass(frozen=True, slots=True)
class PlayedTo:
    turn_id: int
    position_ms: int


@dataclass(frozen=True, slots=True)
class RanDry:
    """The gateway's own pacer sent silence, or (`late`) sent audio after the
    receiver's cushion had run out: either way the far end had nothing to play."""

    late: bool = False


Confirmation = PointReached | RoomGranted | PlayedTo | RanDry


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What a confirmation meant to the flow."""

    valid: bool
    """False if it names something never sent, or is impossible."""
    returned_ms: int = 0
    """Credit it gave back: the pump may send again."""
    turn_id: int | None = None
    """The turn whose playout position it moved, if any."""
    position_ms: int = 0


INVALID = Confirmed(valid=False)
NOTHING = Confirmed(valid=True)
