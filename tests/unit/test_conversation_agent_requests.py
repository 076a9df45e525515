"""What an agent may ask of its call's turn rules (an agent socket's `end`,
`interruptible: false`, text nobody prompted, `preemptible`), on the sans-I/O
core with a fake clock."""

from __future__ import annotations

import pytest

from gateway.call.events import StateChanged
from gateway.call.turn_commands import CancelReply, ClearFarEnd, DropQueued, Emit, EndCall
from tests.unit.conversation_rig import T0, answer, echo, rig, speak, starts

pytestmark = pytest.mark.timeout(10)


def played_out(r, turn: int, ms: int, text: str = "words") -> list:
    """The turn's audio is produced, finished and confirmed played to its end."""
    speak(r, turn, ms, text)
    tail = r.flow.flush()
    r.core.reply_done(turn)
    return echo(r, tail) if tail is not None else []


def test_end_with_nothing_playing_ends_the_call_now() -> None:
    r = rig()
    assert r.core.end_when_heard("agent ended") == [EndCall("agent ended")]


def test_end_waits_until_the_turn_playing_is_heard() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Goodbye.")
    assert r.core.end_when_heard("agent ended") == []
    r.core.reply_done(turn)
    tail = r.flow.flush()
    assert tail is not None
    commands = echo(r, tail)
    assert commands[-1] == EndCall("agent ended")
    assert Emit(StateChanged("listening", turn)) in commands


def test_the_last_turn_is_not_cut_by_the_caller_and_nothing_follows_it() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Goodbye.")
    r.core.end_when_heard("agent ended")
    assert r.core.speech_started(T0 + 1) == []
    assert r.core.turns.is_live(turn)
    assert r.core.agent_turn() == []


def test_a_protected_turn_is_not_cut_and_the_speech_over_it_is_answered_after() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "Please listen to the whole of this.")
    r.core.protect(turn)
    r.core.speech_started(T0 + 1)
    assert r.core.turns.is_live(turn), "speech over a protected turn does not cut it"
    r.core.speech_stopped()
    assert starts(r.core.utterance("hello?", T0 + 2)) == []
    commands = played_out(r, turn, 0)
    assert [s.turn_id for s in starts(commands)] == [turn + 1]


def test_protecting_one_turn_leaves_the_next_open_to_barge_in() -> None:
    r = rig()
    turn = answer(r)
    r.core.protect(turn)
    played_out(r, turn, 200)
    nxt = answer(r, ended_at=T0 + 5)
    speak(r, nxt, 400, "one two three")
    commands = r.core.speech_started(T0 + 6)
    assert any(isinstance(c, CancelReply) and c.turn_id == nxt for c in commands)


def test_unprompted_text_gets_a_turn_at_once_when_the_line_is_free() -> None:
    r = rig()
    commands = r.core.agent_turn()
    assert [s.turn_id for s in starts(commands)] == [1]
    assert r.core.records[1].user_ended_at is None, "it answers nobody"


def test_unprompted_text_waits_for_the_turn_playing_and_for_the_caller() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "one")
    assert r.core.agent_turn() == []
    r.core.speech_started(T0 + 1)  # the caller cuts the turn and is still speaking
    assert not starts(r.core.barge_in_done(turn, True, 0)), "not while the caller speaks"
    commands = r.core.speech_stopped()
    assert [s.turn_id for s in starts(commands)] == [turn + 1]


def test_preemptible_text_cuts_the_turn_playing_for_the_next() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "one two three four")
    echo_at = r.flow.flush()
    r.core.reply_done(turn)
    assert echo_at is not None
    commands = r.core.agent_turn(preempt=True)
    cancel = next(c for c in commands if isinstance(c, CancelReply))
    assert cancel.turn_id == turn
    assert DropQueued(turn) in commands
    assert any(isinstance(c, ClearFarEnd) for c in commands)
    assert [s.turn_id for s in starts(commands)] == [turn + 1]


def test_a_protected_turn_is_not_preempted() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400, "one two")
    r.core.protect(turn)
    assert r.core.agent_turn(preempt=True) == []
    assert r.core.turns.is_live(turn)
    commands = played_out(r, turn, 0)
    assert [s.turn_id for s in starts(commands)] == [turn + 1]


def test_end_after_unprompted_text_ends_after_that_text_is_heard() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "one")
    r.core.agent_turn()  # "Goodbye." is waiting for the line
    assert r.core.end_when_heard("agent ended") == []
    commands = played_out(r, turn, 0)
    assert EndCall("agent ended") not in commands
    goodbye = starts(commands)[0].turn_id
    assert r.core.speech_started(T0 + 3) == [], "the goodbye is the last words"
    assert played_out(r, goodbye, 300, "Goodbye.")[-1] == EndCall("agent ended")
