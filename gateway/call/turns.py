"""The turn state machine: who has the floor, and which agent reply is live."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gateway.clock import Clock


class TurnPhase(enum.Enum):
    LISTENING = "listening"
    THINKING = "thinking"
    SPEAKING = "speaking"
    INTERRUPTED = "interrupted"


@dataclass(frozen=True, slots=True)
class Interrupt:
    turn_id: int
    at: float
    """The interrupt instant, on the call's clock."""
    phase: TurnPhase
    """What the agent was doing: thinking (nothing played yet) or speaking."""


@dataclass(frozen=True, slots=True)
class Transition:
    phase: TurnPhase
    turn_id: int
    at: float


class TurnState:
    """listening -> thinking -> speaking -> listening, or -> interrupted -> listening.

    Only one agent turn is live at a time; every chunk whose turn is not the
    live one is stale. Speaking ends on confirmed playout, not on the last send.
    """

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.phase = TurnPhase.LISTENING
        self.turn_id = 0
        self._live = False
        self.history: list[Transition] = []

    def is_live(self, turn_id: int) -> bool:
        return self._live and turn_id == self.turn_id

    def _move(self, phase: TurnPhase) -> Transition:
        self.phase = phase
        transition = Transition(phase, self.turn_id, self.clock.now())
        self.history.append(transition)
        if len(self.history) > 64:
            del self.history[:32]
        return transition

    def begin_turn(self) -> int:
        """The agent starts a reply (the caller finished, or the call greets)."""
        if self._live:
            raise RuntimeError(f"turn {self.turn_id} is still live; interrupt or finish it first")
        self.turn_id += 1
        self._live = True
        self._move(TurnPhase.THINKING)
        return self.turn_id

    def on_playout_started(self, turn_id: int) -> Transition | None:
        if self.is_live(turn_id) and self.phase is TurnPhase.THINKING:
            return self._move(TurnPhase.SPEAKING)
        return None

    def on_played_out(self, turn_id: int) -> Transition | None:
        """Every sample of the turn is confirmed played: the floor goes back to the caller."""
        if self.is_live(turn_id):
            self._live = False
            return self._move(TurnPhase.LISTENING)
        return None

    def on_speech_start(self) -> Interrupt | None:
        """The caller started talking. While the agent thinks or speaks, that is a barge-in."""
        if not self._live:
            return None
        interrupted_phase = self.phase
        self._live = False
        transition = self._move(TurnPhase.INTERRUPTED)
        return Interrupt(turn_id=self.turn_id, at=transition.at, phase=interrupted_phase)

    def on_cleared(self, turn_id: int) -> Transition | None:
        """Cancel and drop are done for the interrupted turn."""
        if self.phase is TurnPhase.INTERRUPTED and turn_id == self.turn_id:
            return self._move(TurnPhase.LISTENING)
        return None
