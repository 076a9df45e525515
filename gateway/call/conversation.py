"""The turn rules of one call, as a sans-I/O state machine.

Inputs are what happened: the caller's voice began, faded or lasted, the
caller started or stopped speaking, said something, the voice produced audio
or finished, the pump sent a turn's first frame, the far end confirmed playout
or ran dry, the barge-in commands were carried out. Each input returns the
commands that follow from it, in the order they must run (turn_commands.py).
No sockets, no tasks, no sleeps: the clock is injected, so tests drive every
rule with a fake one.

The rules:
- One agent turn is live at a time. A reply starts when the caller has said
  something and stopped speaking, never while a turn is live.
- The caller's first voiced window over a live turn pauses it (a provisional
  interrupt): the far end drops what it holds, the gateway keeps the turn's
  unheard audio and its work. Voice held for the policy's minimum (or words
  that are not backchannels) confirms it as a barge-in: cancel the turn's work
  first, then drop its audio, and keep only what was heard. Voice that fades
  first was a backchannel: the turn resumes from the heard position, and the
  sound is not answered.
- A turn is over when its last sample is confirmed played, not when sent.
- The far end running dry while the turn had more to say is an underrun; a
  pause for the caller's voice is not.
"""

from __future__ import annotations

from collections import deque

from gateway.call.agent_requests import AgentRequests
from gateway.call.call_actions import ActionRecord, PendingAction
from gateway.call.events import (
    AgentText,
    Interrupted,
    Paused,
    PlayoutPosition,
    Resumed,
    StateChanged,
)
from gateway.call.events import Transcript as TranscriptEvent
from gateway.call.interrupt_policy import InterruptPolicy
from gateway.call.interrupt_records import BackchannelRecord, Hold, InterruptRecord, Speech
from gateway.call.turn_commands import (
    CancelReply,
    ClearFarEnd,
    Command,
    CountUnderrun,
    DropQueued,
    Emit,
    EndCall,
    ForgetSpeech,
    HoldReply,
    ResumeReply,
    StartReply,
)
from gateway.call.turn_record import TurnRecord
from gateway.call.turns import Transition, TurnPhase, TurnState
from gateway.clock import Clock
from gateway.flow.confirmation import Cleared, Confirmed
from gateway.flow.playout import PlayoutFlow

TURNS_KEPT = 8
ACTIONS_KEPT = 8
INTERRUPTS_KEPT = 16
SAME_INSTANT_S = 0.001
LATE_SEND_S = 0.020
"""Audio handed to the wire more than one frame after the far end's estimated
dry time (gateway/flow/drain.py) reaches it after its buffer ran out. This
counts a saturated loop's late sends where no confirmation could show them:
on Twilio an echo only shows the far end dry once the last mark is back."""


class Conversation(AgentRequests):
    def __init__(
        self,
        clock: Clock,
        flow: PlayoutFlow,
        greeting: str = "",
        send_clear: bool = True,
        paced: bool = False,
        policy: InterruptPolicy | None = None,
    ) -> None:
        self.clock = clock
        self.flow = flow
        self.greeting = greeting
        self.send_clear = send_clear
        """False only for the naive baseline: the far end plays out whatever it holds."""
        self.turns = TurnState(clock)
        self.records: dict[int, TurnRecord] = {}
        self.interrupts: deque[InterruptRecord] = deque(maxlen=INTERRUPTS_KEPT)
        self.caller_speaking = False
        self.starved_frames = 0
        """Frames a paced wire's pacer had nothing for while a turn had more."""
        self.starved_in_pause = 0
        """Of those, frames inside a pause for the caller's voice: silence on purpose."""
        self.underruns = 0
        """Times the far end ran dry while the turn had more to come: one per gap."""
        self._dry = False
        self.paced = paced
        self.policy = policy or InterruptPolicy()
        self._greeting_turn: int | None = None
        self._said: list[str] = []
        self._said_audio = False
        """Something to answer that has no words here (the voice took the audio)."""
        self._unanswered = False
        self._said_ended_at = 0.0
        self._speech_began_at = 0.0
        self._last_words: int | None = None
        """The turn that ends the call once played (the apology of a failed voice)."""
        self._end_reason = "voice failed"
        self._protected: int | None = None
        """A turn the agent said the caller's speech may not cut."""
        self._agent_waiting = False
        """The agent has something to say unprompted: it gets the next turn."""
        self._ending = False
        """The agent ended the call: the turn it waits for is the last."""
        self._pending: PendingAction | None = None
        """A hang-up or transfer waiting for its last words to be heard."""
        self.actions: deque[ActionRecord] = deque(maxlen=ACTIONS_KEPT)
        self.screening = False
        """An outbound call waiting for the carrier's verdict on who answered:
        no greeting, and nothing the far end says is answered, until then."""
        self._held: Hold | None = None
        self._speech = Speech.FREE
        """What the caller's current speech is turning out to be."""
        self._understood_early = False
        """The speech under way already had its utterance (a model committed it)."""
        self._spoken: deque[tuple[float, Speech]] = deque(maxlen=8)
        """Finished speech waiting for its utterance: (when it ended, what it was)."""
        self.backchannels: deque[BackchannelRecord] = deque(maxlen=INTERRUPTS_KEPT)
        self.backchannels_ignored = 0
        """Utterances not answered because they only paused a turn."""

    # ---- the caller --------------------------------------------------------

    def start(self) -> list[Command]:
        if not self.greeting or self.screening:
            return []
        commands = self._begin_turn(None, greeting=self.greeting)
        self._greeting_turn = self.turns.turn_id
        return commands

    # ---- the caller's voice: pause, confirm, resume -------------------------

    def voice_began(self, began_at: float) -> list[Command]:
        """The detector's first voiced window: pause a live turn at once."""
        if self._last_words is not None or self._held is not None:
            return []
        if not self._pauses:
            return []  # confirmed barge-ins only, or the naive baseline: play on
        if not self.turns.is_live(self.turns.turn_id) or not self._may_interrupt():
            return []
        return self._hold(began_at)

    def voice_ended(self) -> list[Command]:
        """The voice faded before it confirmed: it was a backchannel."""
        return self._resume()

    def voice_lasted(self, voiced_ms: int) -> list[Command]:
        if self._held is None or self.policy.min_words or voiced_ms < self.policy.min_speech_ms:
            return []
        return self._interrupt(self._held.began_at)

    def _hold(self, began_at: float) -> list[Command]:
        turn_id = self.turns.turn_id
        # The flow is cleared only with the far end: a clear starts a new epoch
        # of grants, and a far end never told of it would grant into the old one.
        cleared = None
        if self._far_end_holds(self.turns.phase):
            cleared = self.flow.clear(turn_id)
        heard_ms = cleared.heard_ms if cleared else self.flow.position_ms(turn_id)
        self._held = Hold(turn_id, began_at, self.clock.now(), heard_ms, cleared)
        return [HoldReply(turn_id, cleared), Emit(Paused(turn_id, heard_ms))]

    def _resume(self) -> list[Command]:
        hold, self._held = self._held, None
        if hold is None:
            return []
        if self._speech is not Speech.INTERRUPT:
            self._speech = Speech.BACKCHANNEL
        if not self.turns.is_live(hold.turn_id):
            return []
        if hold.cleared is not None:
            self.flow.rewind(hold.turn_id, hold.heard_ms)
        now = self.clock.now()
        self.backchannels.append(BackchannelRecord(hold.turn_id, hold.at, now, hold.heard_ms))
        paused_ms = round((now - hold.at) * 1000)
        return [
            ResumeReply(hold.turn_id, hold.heard_ms),
            Emit(Resumed(hold.turn_id, hold.heard_ms, paused_ms)),
        ]

    # ---- the caller's speech -------------------------------------------------

    def speech_started(self, began_at: float) -> list[Command]:
        if self._last_words is not None:
            return []
        if self.caller_speaking:
            return []  # a second detector agreeing with the first
        self.caller_speaking = True
        self._speech_began_at = began_at
        self._speech = Speech.FREE
        self._understood_early = False
        if not self._may_interrupt():
            return []
        if self._pauses:
            if self._held is None and self.turns.is_live(self.turns.turn_id):
                # Declared without an onset first (a model's own detector): pause now.
                return self._hold(began_at)
            return []
        return self._interrupt(began_at)

    def _interrupt(self, began_at: float) -> list[Command]:
        """The barge-in: cancel the turn's work, drop its audio, clear the far end
        (unless a provisional interrupt already did), keep what was heard."""
        hold, self._held = self._held, None
        interrupt = self.turns.on_speech_start()
        if interrupt is None:
            return []
        self._speech = Speech.INTERRUPT
        turn_id = interrupt.turn_id
        commands: list[Command] = [self._state()]
        clear = self.send_clear and self._far_end_holds(interrupt.phase) and hold is None
        if hold is not None:
            cleared = hold.cleared or Cleared(turn_id, 0, hold.heard_ms)
        elif clear:
            cleared = self.flow.clear(turn_id)
        else:
            # Nothing out there, or the naive baseline: the far end plays on.
            cleared = Cleared(turn_id, 0, self.flow.position_ms(turn_id))
        record = self.records.get(turn_id)
        heard_text = record.heard_text(cleared.heard_ms) if record else ""
        if interrupt.phase is TurnPhase.THINKING and record and record.user_ended_at is not None:
            # Cut before a word of the answer: the question still stands, and
            # whatever the caller adds (even a cough) gets it answered.
            self._unanswered = True
        commands += [CancelReply(turn_id, cleared.heard_ms, heard_text), DropQueued(turn_id)]
        if clear:
            commands.append(ClearFarEnd(cleared))
        commands += self._cancel_pending(turn_id)
        self.interrupts.append(
            InterruptRecord(
                turn_id=turn_id,
                at=hold.at if hold else interrupt.at,
                speech_began_at=hold.began_at if hold else began_at,
                heard_ms=cleared.heard_ms,
                dropped_in_flight_ms=cleared.dropped_ms,
                cleared_at=hold.at if hold else self.clock.now(),
                heard_text=heard_text,
                confirmed_at=interrupt.at,
            )
        )
        return commands

    @property
    def _pauses(self) -> bool:
        """Voice over a turn pauses it first (not in the naive baseline, whose far
        end is never told to drop anything)."""
        return self.policy.provisional and self.send_clear

    def _far_end_holds(self, phase: TurnPhase) -> bool:
        """The far end may hold audio of the live turn: it was speaking, or audio
        is in flight. Only then is the flow cleared with it."""
        return phase is TurnPhase.SPEAKING or self.flow.window.in_flight_ms > 0

    def _may_interrupt(self) -> bool:
        turn_id = self.turns.turn_id
        if not self.turns.is_live(turn_id):
            return True  # nothing to cut: the policy does not apply
        if turn_id == self._greeting_turn and not self.policy.greeting:
            return False
        if turn_id == self._protected:
            return False
        return self.policy.while_thinking or self.turns.phase is not TurnPhase.THINKING

    def barge_in_done(
        self, turn_id: int, cancelled_work: bool, dropped_queue_ms: int
    ) -> list[Command]:
        """The cancel, drop and clear of `turn_id` were carried out."""
        record = next((i for i in reversed(self.interrupts) if i.turn_id == turn_id), None)
        if record is None:
            return []
        record.cancelled_work = cancelled_work
        record.dropped_queue_ms = dropped_queue_ms
        commands: list[Command] = [
            Emit(
                Interrupted(
                    turn_id, record.heard_ms, record.heard_text, record.dropped_in_flight_ms
                )
            )
        ]
        transition = self.turns.on_cleared(turn_id)
        if transition is not None:
            commands.append(self._state(transition))
        return commands + self._maybe_reply()

    def speech_stopped(self, at: float | None = None) -> list[Command]:
        """`at`: when the speech ended; its utterance names the same instant or later."""
        self.caller_speaking = False
        commands = self._resume()  # a model's detector may end speech our own never heard
        if not self._understood_early:
            self._spoken.append((self.clock.now() if at is None else at, self._speech))
        self._speech = Speech.FREE
        return commands + self._maybe_reply()

    def transcript(self, text: str, final: bool = True) -> list[Command]:
        return [Emit(TranscriptEvent(text, final))] if text else []

    def utterance(self, text: str | None, ended_at: float) -> list[Command]:
        """The voice understood an utterance; `text` None: it took the audio itself."""
        speech = self._speech_ended_by(ended_at)
        commands: list[Command] = []
        if speech is Speech.BACKCHANNEL:
            if text is None or not self.policy.words_confirm(text):
                self.backchannels_ignored += 1
                # Shown, never answered.
                return [*self.transcript((text or "").strip()), ForgetSpeech()]
            # Words confirm late: the turn it paused is cut where it is now.
            commands += self._interrupt(self._speech_began_at)
        if text is None or self._unanswered:
            self._said_audio = True
            self._unanswered = False
        if text is not None and text.strip():
            self._said.append(text.strip())
            commands += self.transcript(text.strip())
        self._said_ended_at = ended_at
        return commands + self._maybe_reply()

    def _speech_ended_by(self, ended_at: float) -> Speech:
        """What the newest speech that ended by `ended_at` was; older ones whose
        utterance never came (a recognition that failed or was dropped) go too.
        None ended yet while the caller speaks: a model's detector may commit the
        turn before ours ends it, and the utterance is the speech under way."""
        speech = Speech.FREE
        matched = False
        while self._spoken and self._spoken[0][0] <= ended_at + SAME_INSTANT_S:
            speech = self._spoken.popleft()[1]
            matched = True
        if not matched and self.caller_speaking:
            self._understood_early = True  # its end will not wait for an utterance
            return self._speech
        return speech

    def _maybe_reply(self) -> list[Command]:
        if self._last_words is not None or self.screening:
            return []
        if self.caller_speaking or not (self._said or self._said_audio or self._agent_waiting):
            return []  # still talking, or nothing to answer yet: wait for the rest
        if self.turns.is_live(self.turns.turn_id) or self.turns.phase is TurnPhase.INTERRUPTED:
            return []  # the barge-in is still being carried out; it replies when done
        announcing = self._announce_next()
        if announcing:
            return announcing
        transcript = " ".join(self._said)
        answers = bool(self._said or self._said_audio)
        self._said.clear()
        self._said_audio = self._agent_waiting = False
        commands = self._begin_turn(self._said_ended_at if answers else None, transcript=transcript)
        if self._ending:
            self._last_words = self.turns.turn_id
        if announcing is not None and self._pending is not None:
            self._pending.turn_id = self.turns.turn_id  # the agent's turn the action follows
        return commands

    def _begin_turn(
        self, user_ended_at: float | None, greeting: str | None = None, transcript: str = ""
    ) -> list:
        turn_id = self.turns.begin_turn()
        self.records[turn_id] = TurnRecord(
            turn_id, self.clock.now(), user_ended_at=user_ended_at, transcript=transcript
        )
        for old in [t for t in self.records if t <= turn_id - TURNS_KEPT]:
            del self.records[old]
        return [self._state(), StartReply(turn_id, greeting)]

    # ---- the voice ---------------------------------------------------------

    def reply_audio(self, turn_id: int, duration_ms: int, text: str = "") -> int | None:
        """Audio of a turn was produced; returns its offset in the turn, or
        None if the turn is no longer live (the audio is stale: drop it)."""
        record = self.records.get(turn_id)
        if record is None or not self.turns.is_live(turn_id) or record.finished:
            return None
        offset = record.produced_ms
        record.add(text, duration_ms)
        return offset

    def reply_text(self, turn_id: int, text: str) -> list[Command]:
        """Words of the reply: with audio they came with, or spoken at the
        current end of the turn's audio."""
        record = self.records.get(turn_id)
        if record is None or not self.turns.is_live(turn_id) or record.finished or not text:
            return []  # words of a cancelled turn are never shown as said
        record.add(text, 0)
        return [Emit(AgentText(turn_id, text))]

    def reply_done(self, turn_id: int) -> list[Command]:
        record = self.records.get(turn_id)
        if record is None or record.finished:
            return []
        record.finished = True
        return self._check_played_out(turn_id)

    def reply_cancelled(self, turn_id: int) -> None:
        record = self.records.get(turn_id)
        if record is not None:
            record.cancelled = True
            record.finished = True

    # ---- the far end -------------------------------------------------------

    def first_sent(self, turn_id: int) -> list[Command]:
        record = self.records.get(turn_id)
        if record is not None and record.first_sent_at is None:
            record.first_sent_at = self.clock.now()
        transition = self.turns.on_playout_started(turn_id)
        return [self._state(transition)] if transition is not None else []

    def confirmed(self, confirmed: Confirmed, queued_ms: int) -> list[Command]:
        if confirmed.returned_ms:
            self._dry = False  # audio is playing again: a later dry spell is a new gap
        if confirmed.turn_id is None:
            return []
        turn_id = confirmed.turn_id
        if self.send_clear and not self.turns.is_live(turn_id):
            return []  # an ack that crossed the clear: the heard position is already told
        commands: list[Command] = [Emit(PlayoutPosition(turn_id, confirmed.position_ms))]
        commands += self._check_played_out(turn_id)
        record = self.records.get(turn_id)
        if (
            not self.paced  # a paced wire's own pacer says when it ran dry
            and self.flow.window.in_flight_ms == 0
            and self.turns.is_live(turn_id)
            and record is not None
            and (not record.finished or queued_ms > 0)
        ):
            # The far end has played everything sent and the turn has more:
            # whether it waits in TTS or in our own queue, the caller hears a gap.
            commands += self._underrun()
        return commands

    def sending(self, turn_id: int) -> list[Command]:
        """The pump is handing the turn's next audio to the wire. On a wire the
        far end paces, a send after the far end ran out of what it had is a gap
        the caller hears, whatever the confirmations say later."""
        if self.paced or not self.turns.is_live(turn_id):
            return []
        dry_at = self.flow.dry_at(turn_id)
        if dry_at is None or self.clock.now() - dry_at <= LATE_SEND_S:
            return []
        commands = self._underrun()
        self._dry = False  # this audio ends the gap: a later dry spell is a new one
        return commands

    def ran_dry(self, queued_ms: int, late: bool = False) -> list[Command]:
        """The gateway's pacer had nothing to send: an underrun if the turn had more
        to say. `late`: it had audio but sent it too late, an underrun whatever follows."""
        turn_id = self.turns.turn_id
        record = self.records.get(turn_id)
        if not self.turns.is_live(turn_id) or record is None or record.first_sent_at is None:
            return []
        if record.finished and queued_ms == 0 and not late:
            return []
        self.starved_frames += 1
        if self._held is not None:
            self.starved_in_pause += 1
        return self._underrun()

    def _underrun(self) -> list[Command]:
        if self._held is not None:
            return []  # paused for the caller's voice: a silence on purpose
        if self._dry:
            return []  # the same gap, another silent frame of it
        self._dry = True
        self.underruns += 1
        return [CountUnderrun()]

    def _check_played_out(self, turn_id: int) -> list[Command]:
        record = self.records.get(turn_id)
        if record is None or not record.finished or not self.turns.is_live(turn_id):
            return []
        if self.flow.confirmed_ms(turn_id) < record.produced_ms:
            return []
        transition = self.turns.on_played_out(turn_id)
        if transition is None:
            return []
        if turn_id == self._last_words:
            return [self._state(transition), EndCall(self._end_reason)]
        if self._pending is not None and self._pending.turn_id == turn_id:
            return [self._state(transition), *self._carry_out()]
        return [self._state(transition), *self._maybe_reply()]

    def _state(self, transition: Transition | None = None) -> Emit:
        transition = transition or self.turns.history[-1]
        return Emit(StateChanged(transition.phase.value, transition.turn_id))
