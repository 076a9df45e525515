"""What the agent (or a failed voice) may ask of the turn rules, beside the
caller: a turn the caller's speech may not cut, a turn nobody prompted
(possibly cutting the one playing), the call's end once its last words are
heard, a hang-up or transfer once its words are heard (which the caller's
barge-in cancels), and the apology that replaces a failed voice.

A part of `Conversation` (conversation.py), kept apart to keep each file to
one idea: it reads and writes the conversation's own state, named below.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from gateway.call.call_actions import ActionRecord, CallAction, HangUp, PendingAction, action_name
from gateway.call.events import CallControl
from gateway.call.turn_commands import (
    CancelReply,
    CarryOut,
    ClearFarEnd,
    Command,
    DropQueued,
    Emit,
    EndCall,
)

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
    _pending: PendingAction | None
    actions: deque[ActionRecord]
    screening: bool
    _said: list[str]
    _said_audio: bool
    _unanswered: bool

    def start(self) -> list[Command]: ...

    def _begin_turn(
        self, user_ended_at: float | None, greeting: str | None = None, transcript: str = ""
    ) -> list: ...
    def _resume(self) -> list[Command]: ...
    def _maybe_reply(self) -> list[Command]: ...
    def _check_played_out(self, turn_id: int) -> list[Command]: ...

    def apologise(self, text: str) -> list[Command]:
        """The voice failed: drop whatever it was saying, speak `text` in its
        place (not interruptible), and end the call once that is played."""
        self._pending = None  # nothing is carried out for a voice that failed
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

    def end_when_heard(self, reason: str, interruptible: bool = False) -> list[Command]:
        """The agent ended the call: end it once what it has said is heard.
        `interruptible`: the caller may still cut the goodbye, which cancels the
        end (the end_call tool); otherwise nothing the caller says is answered."""
        if interruptible:
            return self.act_when_heard(HangUp(reason))
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

    # ---- hang-ups and transfers the agent asked for ------------------------

    def act_when_heard(
        self, action: CallAction, announcement: str = "", protected: bool = False
    ) -> list[Command]:
        """Carry out `action` once the turn playing now (or, with an
        `announcement`, that announcement as a turn of its own) is confirmed
        heard. A confirmed barge-in on either cancels it (unless `protected`:
        nothing the far end says cuts the announcement). One at a time."""
        if self._last_words is not None or self._pending is not None:
            return []
        turn_id = self.turns.turn_id
        live = self.turns.is_live(turn_id)
        target = action.reason if isinstance(action, HangUp) else action.to
        self.actions.append(ActionRecord(action_name(action), target, self.clock.now()))
        self._pending = PendingAction(
            action, None, turn_id if live else None, announcement or None, protected
        )
        commands: list[Command] = [Emit(CallControl(action_name(action), "waiting", target))]
        if announcement or self._agent_waiting:
            self._agent_waiting = True  # the announcement, or the turn asked for, comes next
            return commands + self._maybe_reply()
        if live:
            self._pending.turn_id = turn_id
            return commands + self._check_played_out(turn_id)
        return commands + self._carry_out()

    def _carry_out(self) -> list[Command]:
        """The pending action's words are heard: nothing follows them."""
        pending, self._pending = self._pending, None
        assert pending is not None
        self._last_words = self.turns.turn_id
        self.actions[-1].heard_at = self.clock.now()
        return [CarryOut(pending.action)]

    def _cancel_pending(self, turn_id: int) -> list[Command]:
        """The caller barged in on `turn_id`: an action waiting on it is off."""
        pending = self._pending
        if pending is None or turn_id not in (pending.turn_id, pending.during):
            return []
        self._pending = None
        if pending.turn_id is None:
            self._agent_waiting = False  # the announcement it waited to make
        record = self.actions[-1]
        record.outcome, record.done_at = "cancelled", self.clock.now()
        return [Emit(CallControl(record.action, "cancelled", record.target))]

    def _announce_next(self) -> list[Command] | None:
        """The next turn, if a pending action waits for it: its announcement, or
        the turn the agent asked for, which the action then follows."""
        pending = self._pending
        if pending is None or pending.turn_id is not None:
            return None
        if pending.announcement is None:
            return []  # the agent's own next turn; bound once it begins
        self._agent_waiting = False
        commands = self._begin_turn(None, greeting=pending.announcement)
        pending.turn_id = self.turns.turn_id
        if pending.protected:
            self._protected = pending.turn_id
        return commands

    def action_finished(self, error: str | None) -> list[Command]:
        """The carrier answered the action carried out. A failed transfer
        leaves the call going: the agent gets a turn to tell the caller."""
        record = self.actions[-1]
        record.done_at = self.clock.now()
        record.outcome, record.detail = ("done", "") if error is None else ("failed", error[:300])
        commands: list[Command] = [
            Emit(CallControl(record.action, record.outcome, record.target))
        ]
        if error is None or record.action == "hang_up":
            return commands
        self._last_words = None
        return commands + self.agent_turn()

    # ---- who answered an outbound call -------------------------------------

    def answered(self, machine: bool, policy: str, message: str) -> list[Command]:
        """The carrier's answering-machine verdict on an outbound call that
        waited for it (`screening`): a person hears the greeting; a machine,
        by `policy`, is hung up on, left `message` once its greeting is over
        (the caller's side is silent), or answered by the agent, which has
        been told. What the machine said meanwhile is never answered."""
        if not self.screening:
            return []
        self.screening = False
        self._said.clear()
        self._said_audio = self._unanswered = False
        if not machine or policy == "off":
            return self.start()
        if policy == "hangup":
            return self.act_when_heard(HangUp("machine answered"))
        if policy == "message":
            return self.act_when_heard(HangUp("voicemail"), message, protected=True)
        return self.agent_turn()
