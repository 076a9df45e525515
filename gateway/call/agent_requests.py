"""What the agent (or a failed voice) may ask of the turn rules, beside the
caller: a turn the caller's speech may not cut, a turn nobody prompted
(possibly cutting the one playing), the call's end once its last words are
heard, and the apology that replaces a failed voice.

A part of `Conversation` (conversation.py), kept apart to keep each file to
one idea: it reads and writes the conversation's own state, named below.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from gateway.call.turn_commands import CancelReply, ClearFarEnd, Command, DropQueued, EndCall

if TYPE_CHECKING:
    from gateway.call.interrupt_records import Hold
    from gateway.call.turn_record import TurnRecord
    from gateway.call.turns import TurnState
    from gateway.flow.playout import PlayoutFlow


class AgentRequests:
    turns: TurnState
    flow: PlayoutFlow
    records: dict[int, TurnRecord]
    send_clear: bool
    _held: Hold | None
    _last_words: int | None
    _end_reason: str
    _protected: int | None
    _agent_waiting: bool
    _ending: bool

    def _begin_turn(
        self, user_ended_at: float | None, greeting: str | None = None, transcript: str = ""
    ) -> list: ...
    def _resume(self) -> list[Command]: ...
    def _maybe_reply(self) -> list[Command]: ...
    def _check_played_out(self, turn_id: int) -> list[Command]: ...

    def apologise(self, text: str) -> list[Command]:
        """The voice failed: drop whatever it was saying, speak `text` in its
        place (not interruptible), and end the call once that is played."""
        commands = self._cut_live_turn() + self._begin_turn(None, greeting=text)
        self._last_words = self.turns.turn_id
        self._end_reason = "voice failed"
        return commands

    def _cut_live_turn(self) -> list[Command]:
        """End the live turn where the caller is in it, as a barge-in would,
        for a reason that is not the caller's speech."""
        turn_id = self.turns.turn_id
        hold, self._held = self._held, None
        if not self.turns.is_live(turn_id):
            return []
        self.turns.on_speech_start()  # the live turn is over, as if interrupted
        cleared = None
        if self.send_clear and self.flow.window.in_flight_ms and hold is None:
            cleared = self.flow.clear(turn_id)
        if cleared is not None:
            heard_ms = cleared.heard_ms
        elif hold is not None:
            heard_ms = hold.heard_ms
        else:
            heard_ms = self.flow.position_ms(turn_id)
        record = self.records.get(turn_id)
        heard_text = record.heard_text(heard_ms) if record else ""
        commands: list[Command] = [CancelReply(turn_id, heard_ms, heard_text), DropQueued(turn_id)]
        if cleared is not None:
            commands.append(ClearFarEnd(cleared))
        self.turns.on_cleared(turn_id)
        return commands

    def protect(self, turn_id: int) -> list[Command]:
        """The agent marked turn `turn_id` as one the caller's speech may not cut.
        Speech over it is answered once it has played out, as over a protected
        greeting."""
        if not self.turns.is_live(turn_id):
            return []
        self._protected = turn_id
        if self._held is not None and self._held.turn_id == turn_id:
            return self._resume()  # paused before it was protected: it plays on
        return []

    def agent_turn(self, preempt: bool = False) -> list[Command]:
        """The agent has something to say that nobody asked for (an answer to a
        key, a word after a tool). It gets the next turn; with `preempt`, the
        turn playing now is cut for it."""
        if self._last_words is not None:
            return []
        self._agent_waiting = True
        turn_id = self.turns.turn_id
        if preempt and self.turns.is_live(turn_id) and turn_id != self._protected:
            return self._cut_live_turn() + self._maybe_reply()
        return self._maybe_reply()

    def end_when_heard(self, reason: str) -> list[Command]:
        """The agent ended the call: end it once what it has said is heard."""
        if self._last_words is not None:
            return []
        self._end_reason = reason
        turn_id = self.turns.turn_id
        if self._agent_waiting:
            self._ending = True  # the turn it asked for is the last
            return []
        if self.turns.is_live(turn_id):
            self._last_words = turn_id
            return self._check_played_out(turn_id)
        return [EndCall(reason)]
