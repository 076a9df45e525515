"""Hang-ups and transfers the agent asks for, on the sans-I/O core with a fake
clock: carried out only when the last words are confirmed heard, cancelled by
a confirmed barge-in on them, and nothing answered after."""

from __future__ import annotations

import pytest

from gateway.call.call_actions import HangUp, Transfer
from gateway.call.events import CallControl
from gateway.call.turn_commands import CarryOut, Emit, StartReply
from tests.unit.conversation_rig import T0, answer, echo, rig, speak, starts

pytestmark = pytest.mark.timeout(10)


def finish(r, turn: int) -> list:
    """The voice finishes the turn and the far end confirms all of it."""
    r.core.reply_done(turn)
    tail = r.flow.flush()
    return echo(r, tail) if tail is not None else []


def carried_out(commands: list) -> list:
    return [c.action for c in commands if isinstance(c, CarryOut)]


def control_events(commands: list) -> list[tuple[str, str]]:
    return [
        (c.event.action, c.event.state)
        for c in commands
        if isinstance(c, Emit) and isinstance(c.event, CallControl)
    ]


def test_the_hang_up_waits_for_the_goodbye_to_be_confirmed_heard() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 600, "Goodbye, and thank you for calling.")
    commands = r.core.end_when_heard("agent ended", interruptible=True)
    assert control_events(commands) == [("hang_up", "waiting")]
    assert carried_out(commands) == []
    r.core.reply_done(turn)
    for mark in marks:  # most of it is heard, not all
        assert carried_out(echo(r, mark)) == []
    tail = r.flow.flush()
    assert tail is not None
    assert carried_out(echo(r, tail)) == [HangUp("agent ended")]
    record = r.core.actions[-1]
    assert record.heard_at is not None and record.outcome == "waiting"


def test_a_barge_in_on_the_goodbye_cancels_the_hang_up_and_is_answered() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 600, "Goodbye, and thank you for calling.")
    r.core.end_when_heard("agent ended", interruptible=True)
    commands = r.core.speech_started(T0 + 1)
    assert control_events(commands) == [("hang_up", "cancelled")]
    assert r.core.actions[-1].outcome == "cancelled"
    r.core.barge_in_done(turn, True, 0)
    r.core.speech_stopped()
    assert len(starts(r.core.utterance("wait, one more thing", T0 + 2))) == 1
    assert all(not carried_out(finish(r, t)) for t in (turn, turn + 1))


def test_an_end_that_is_not_interruptible_still_ignores_the_caller() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Goodbye.")
    r.core.end_when_heard("agent ended")
    assert r.core.speech_started(T0 + 1) == []
    assert r.core.turns.is_live(turn)


def test_a_transfer_speaks_its_announcement_as_a_turn_and_waits_for_it() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Let me find someone for you.")
    assert r.core.act_when_heard(Transfer("+15551230000"), "I'll put you through.")
    begun = [c for c in finish(r, turn) if isinstance(c, StartReply)]
    assert begun == [StartReply(turn + 1, "I'll put you through.")]
    speak(r, turn + 1, 400, "I'll put you through.")
    assert carried_out(finish(r, turn + 1)) == [Transfer("+15551230000")]


def test_a_barge_in_before_the_announcement_cancels_the_transfer() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Let me find someone for you.")
    r.core.act_when_heard(Transfer("+15551230000"), "I'll put you through.")
    commands = r.core.speech_started(T0 + 1)
    assert control_events(commands) == [("transfer", "cancelled")]
    r.core.barge_in_done(turn, True, 0)
    r.core.speech_stopped()
    begun = starts(r.core.utterance("no, stay with me", T0 + 2))
    assert begun and begun[0].greeting is None, "the caller is answered, not announced to"


def test_with_nothing_playing_the_action_is_carried_out_at_once() -> None:
    r = rig()
    assert carried_out(r.core.end_when_heard("agent ended", interruptible=True)) == [
        HangUp("agent ended")
    ]


def test_a_failed_transfer_gives_the_agent_a_turn_and_the_call_goes_on() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "Transferring.")
    r.core.act_when_heard(Transfer("+15551230000"))
    assert carried_out(finish(r, turn)) == [Transfer("+15551230000")]
    assert r.core.speech_started(T0 + 1) == [], "nothing is answered while the carrier is asked"
    r.core.speech_stopped()
    commands = r.core.action_finished("carrier said 400: not a valid number")
    assert control_events(commands) == [("transfer", "failed")]
    assert [c for c in commands if isinstance(c, StartReply)] == [StartReply(turn + 1, None)]
    assert r.core.actions[-1].detail.startswith("carrier said 400")


def test_one_action_at_a_time() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "Goodbye.")
    r.core.end_when_heard("agent ended", interruptible=True)
    assert r.core.act_when_heard(Transfer("+15551230000")) == []
    assert len(r.core.actions) == 1
