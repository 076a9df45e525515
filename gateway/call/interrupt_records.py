"""What the conversation core remembers of the caller's voice over the agent:
a pause under way, the barge-ins it confirmed, the backchannels it resumed."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.flow.confirmation import Cleared


@dataclass(slots=True)
class InterruptRecord:
    turn_id: int
    at: float
    speech_began_at: float
    heard_ms: int
    dropped_in_flight_ms: int
    cleared_at: float
    heard_text: str = ""
    cancelled_work: bool = False
    dropped_queue_ms: int = 0
    confirmed_at: float = 0.0
    """When the barge-in was confirmed; `at` (the pause) is what the listener heard."""


@dataclass(slots=True)
class Hold:
    """A provisional interrupt under way: the turn is paused, nothing cancelled."""

    turn_id: int
    began_at: float
    """When the caller's voice began."""
    at: float
    """When the turn was paused: the listener's interrupt instant."""
    heard_ms: int
    cleared: Cleared | None
    """The far end's clear, None if it held nothing of the turn."""


@dataclass(slots=True)
class BackchannelRecord:
    turn_id: int
    paused_at: float
    resumed_at: float
    heard_ms: int


class Speech(enum.Enum):
    """What one stretch of the caller's speech turned out to be."""

    FREE = "free"
    """Nothing was live to cut: an ordinary utterance."""
    INTERRUPT = "interrupt"
    """It confirmed a barge-in."""
    BACKCHANNEL = "backchannel"
    """It paused a turn and let it resume."""
