"""What the conversation core tells the call to do, in the order it must be done."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.call.call_actions import CallAction
from gateway.call.events import CallEvent
from gateway.flow.confirmation import Cleared


@dataclass(frozen=True, slots=True)
class StartReply:
    turn_id: int
    greeting: str | None = None


@dataclass(frozen=True, slots=True)
class CancelReply:
    turn_id: int
    heard_ms: int
    heard_text: str


@dataclass(frozen=True, slots=True)
class DropQueued:
    """Drop the turn's audio here: the queue, and what the pump held for a resume."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class ClearFarEnd:
    cleared: Cleared


@dataclass(frozen=True, slots=True)
class HoldReply:
    """A provisional interrupt: send nothing more of the turn, tell the far end to
    drop what it holds (`cleared`, None if it holds nothing), keep the rest."""

    turn_id: int
    cleared: Cleared | None


@dataclass(frozen=True, slots=True)
class ResumeReply:
    """Send the turn again from `from_ms`: the held audio first, then the queue."""

    turn_id: int
    from_ms: int


@dataclass(frozen=True, slots=True)
class Emit:
    event: CallEvent


@dataclass(frozen=True, slots=True)
class CountUnderrun:
    pass


@dataclass(frozen=True, slots=True)
class EndCall:
    reason: str


@dataclass(frozen=True, slots=True)
class CarryOut:
    """The action's last words were heard: ask the carrier for it now."""

    action: CallAction


Command = (
    StartReply
    | CancelReply
    | DropQueued
    | ClearFarEnd
    | HoldReply
    | ResumeReply
    | Emit
    | CountUnderrun
    | EndCall
    | CarryOut
)


@dataclass(frozen=True, slots=True)
class ForgetSpeech:
    """The speech that just ended will never be answered (a backchannel): a
    voice that holds the caller's audio for its model may drop it."""
