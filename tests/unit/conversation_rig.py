"""A conversation core over a real flow and a fake clock, and what the tests
read from its commands. See test_conversation.py for how sending is modelled."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.audio.frames import FRAME_BYTES, FRAME_MS, AudioChunk
from gateway.call.conversation import Conversation
from gateway.call.events import CallEvent, StateChanged
from gateway.call.interrupt_policy import InterruptPolicy
from gateway.call.turn_commands import Command, CountUnderrun, Emit, StartReply
from gateway.clock import FakeClock
from gateway.flow.confirmation import PlayedTo, PointReached, RoomGranted
from gateway.flow.credit import CreditWindow
from gateway.flow.grants import GrantTracker
from gateway.flow.marks import Mark, MarkTracker

T0 = 100.0


@dataclass
class Rig:
    clock: FakeClock
    flow: MarkTracker | GrantTracker
    core: Conversation


def rig(
    greeting: str = "",
    send_clear: bool = True,
    grants: bool = False,
    paced: bool = False,
    policy: InterruptPolicy | None = None,
) -> Rig:
    clock = FakeClock(T0)
    window = CreditWindow(800)
    if grants or paced:
        flow: MarkTracker | GrantTracker = GrantTracker(window, clock)
    else:
        flow = MarkTracker(window, clock, interval_ms=160)
    # These rules are those of the confirmed barge-in (speech declared cuts the
    # turn); test_provisional_interrupts.py drives the pause and resume before it.
    policy = policy or InterruptPolicy(provisional=False)
    return Rig(clock, flow, Conversation(clock, flow, greeting, send_clear, paced, policy))


def speak(r: Rig, turn_id: int, ms: int, text: str = "") -> list[Mark]:
    """The voice makes `ms` of audio and the pump sends all of it; returns the marks due."""
    offset = r.core.reply_audio(turn_id, ms, text)
    assert offset is not None
    marks = []
    for i in range(ms // FRAME_MS):
        mark = r.flow.on_sent(AudioChunk(turn_id, bytes(FRAME_BYTES), offset + i * FRAME_MS))
        if offset == 0 and i == 0:
            r.core.first_sent(turn_id)
        if mark is not None:
            marks.append(mark)
    return marks


def echo(r: Rig, mark: Mark, queued_ms: int = 0) -> list[Command]:
    return r.core.confirmed(r.flow.confirm(PointReached(mark.name)), queued_ms)


def played(r: Rig, turn_id: int, position_ms: int, queued_ms: int = 0) -> list[Command]:
    """The browser acks playout of a turn, granting its credit back first."""
    grant = r.flow.confirm(RoomGranted(r.flow.window.in_flight_ms, r.flow.epoch))
    commands = r.core.confirmed(grant, queued_ms)
    return commands + r.core.confirmed(r.flow.confirm(PlayedTo(turn_id, position_ms)), queued_ms)


def answer(r: Rig, text: str = "what time is it", ended_at: float = T0) -> int:
    """The caller speaks and stops; returns the turn that answers."""
    r.core.speech_started(ended_at - 1.0)
    r.core.speech_stopped()
    starts = [c for c in r.core.utterance(text, ended_at) if isinstance(c, StartReply)]
    assert len(starts) == 1
    return starts[0].turn_id


def events(commands: list[Command], kind: type[CallEvent] = CallEvent) -> list[CallEvent]:
    return [c.event for c in commands if isinstance(c, Emit) and isinstance(c.event, kind)]


def states(commands: list[Command]) -> list[str]:
    return [e.state for e in events(commands, StateChanged)]


def actions(commands: list[Command]) -> list[Command]:
    """The commands that make the runner do something, events left out."""
    return [c for c in commands if not isinstance(c, Emit)]


def starts(commands: list[Command]) -> list[StartReply]:
    return [c for c in commands if isinstance(c, StartReply)]


def underruns(commands: list[Command]) -> int:
    return sum(isinstance(c, CountUnderrun) for c in commands)


def two_sentences(r: Rig, turn_id: int) -> list[Mark]:
    """400 ms in two 200 ms sentences: marks at 160 and 320, the last 80 ms unmarked."""
    marks = speak(r, turn_id, 200, "Hello there friend.")
    marks += speak(r, turn_id, 200, "How are you today?")
    assert [m.turn_pos_ms for m in marks] == [160, 320]
    return marks


# ---- the greeting ------------------------------------------------------------


