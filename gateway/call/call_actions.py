"""What the agent may have the carrier do to the call once its last words are
heard: hang up, or hand the caller to a person.

The conversation core holds one pending action at a time and carries it out
only when the turn it waits for is confirmed played (playout is truth); a
caller who barges in on that turn cancels it. The call then asks the wire's
`CallControl` (a carrier's REST API), which raises `ControlFailed` when the
carrier refuses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class HangUp:
    reason: str = "agent ended"


@dataclass(frozen=True, slots=True)
class Transfer:
    to: str


CallAction = HangUp | Transfer


def action_name(action: CallAction) -> str:
    return "hang_up" if isinstance(action, HangUp) else "transfer"


@dataclass(slots=True)
class PendingAction:
    action: CallAction
    turn_id: int | None
    """The turn whose confirmed playout carries it out; None: the next turn."""
    during: int | None
    """The turn live when the agent asked: a barge-in on it cancels the action too."""
    announcement: str | None = None
    """Words Sluice speaks first, as their own turn ("I'll put you through")."""
    protected: bool = False
    """The announcement plays out whatever the far end says (a voicemail message)."""


@dataclass(slots=True)
class ActionRecord:
    """One action as the call's record shows it, from the ask to the carrier's answer."""

    action: str
    target: str
    """The reason of a hang-up, the destination of a transfer."""
    asked_at: float
    heard_at: float | None = None
    """When its last words were confirmed played: the moment it was carried out."""
    done_at: float | None = None
    outcome: str = "waiting"
    """waiting, cancelled (the caller barged in), done, or failed."""
    detail: str = ""


class ControlFailed(Exception):
    """The carrier refused or could not be reached; the message is the carrier's."""


class CallControl(Protocol):
    """A wire's control of its call beside the media (a carrier's REST API)."""

    can_transfer: bool

    async def hang_up(self) -> None:
        """Ask the carrier to end the call. Raises ControlFailed."""
        ...

    async def transfer(self, to: str) -> None:
        """Ask the carrier to connect the caller to `to` instead. Raises ControlFailed."""
        ...
