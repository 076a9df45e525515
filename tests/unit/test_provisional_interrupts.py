"""Provisional interrupts in the conversation core: the caller's first voiced
window pauses the turn; held voice (or words) confirms the barge-in; a voice
that fades first was a backchannel, and the turn resumes where it was heard.

Same rig as test_conversation.py: a fake clock, a real MarkTracker or
GrantTracker, and the pump's sending modelled by `speak`.
"""

from __future__ import annotations

import pytest

from gateway.audio.frames import FRAME_BYTES, FRAME_MS, AudioChunk
from gateway.call.events import Interrupted, Paused, Resumed, Transcript
from gateway.call.interrupt_policy import InterruptPolicy
from gateway.call.turn_commands import (
    CancelReply,
    ClearFarEnd,
    DropQueued,
    ForgetSpeech,
    HoldReply,
    ResumeReply,
)
from gateway.call.turns import TurnPhase
from gateway.flow.confirmation import PointReached, RanDry
from tests.unit.conversation_rig import (
    T0,
    Rig,
    actions,
    answer,
    echo,
    events,
    played,
    rig,
    speak,
    starts,
    underruns,
)

pytestmark = pytest.mark.timeout(5)

POLICY = InterruptPolicy(min_speech_ms=640)


def speaking_turn(r: Rig, ms: int = 600) -> tuple[int, list]:
    """A reply of `ms` audio, all sent; the first mark echoed."""
    turn = answer(r)
    marks = speak(r, turn, ms, "One two three four five six.")
    return turn, marks


def resend(r: Rig, turn: int, from_ms: int, to_ms: int) -> list:
    """The pump sends the turn again from `from_ms` after a resume; returns marks."""
    marks = []
    for offset in range(from_ms // FRAME_MS * FRAME_MS, to_ms, FRAME_MS):
        mark = r.flow.on_sent(AudioChunk(turn, bytes(FRAME_BYTES), offset))
        if mark is not None:
            marks.append(mark)
    flushed = r.flow.flush()
    return marks + ([flushed] if flushed else [])


def test_the_first_voiced_window_pauses_a_speaking_turn_and_cancels_nothing() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])  # 160 ms confirmed
    r.clock.advance(0.1)
    commands = r.core.voice_began(r.clock.now() - 0.03)
    assert actions(commands) == [HoldReply(turn, commands[0].cleared)]
    cleared = commands[0].cleared
    assert cleared is not None and cleared.heard_ms == 260 and cleared.dropped_ms == 440
    assert events(commands, Paused) == [Paused(turn, 260)]
    assert r.core.turns.is_live(turn) and r.core.turns.phase is TurnPhase.SPEAKING
    assert not r.core.interrupts and r.flow.window.in_flight_ms == 0


def test_a_voice_that_fades_first_resumes_the_turn_from_the_heard_position() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    r.clock.advance(0.1)
    r.core.voice_began(r.clock.now())
    r.clock.advance(0.25)
    commands = r.core.voice_ended()
    assert actions(commands) == [ResumeReply(turn, 260)]
    assert events(commands, Resumed) == [Resumed(turn, 260, 250)]
    assert r.core.turns.is_live(turn) and not r.core.interrupts
    # Sent again from the heard position, the turn plays out whole.
    r.core.reply_done(turn)
    tail = resend(r, turn, 260, 600)
    assert tail and tail[-1].turn_pos_ms == 600
    done = echo(r, tail[-1])
    assert r.core.turns.phase is TurnPhase.LISTENING
    assert [c.state for c in events(done) if hasattr(c, "state")] == ["listening"]
    record = r.core.records[turn]
    assert record.heard_text(r.flow.confirmed_ms(turn)) == "One two three four five six."


def test_acks_that_crossed_the_clear_do_not_move_the_resumed_turn() -> None:
    r = rig(grants=True, policy=POLICY)
    turn, _ = speaking_turn(r)
    played(r, turn, 200)
    r.core.voice_began(r.clock.now())
    r.core.voice_ended()
    assert r.flow.confirm(PointReached("x")).valid is False
    # The far end played to 500 before it saw the clear: never sent again yet.
    assert r.flow.positions.confirm(turn, 500) is False
    assert r.flow.position_ms(turn) == 200


def test_a_backchannel_is_not_answered_and_starts_no_reply() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    r.clock.advance(0.3)
    r.core.voice_ended()
    r.core.speech_stopped()
    commands = r.core.utterance("i am", r.clock.now())
    assert not starts(commands) and r.core.backchannels_ignored == 1
    assert events(commands, Transcript) == [Transcript("i am")]
    # Once the turn plays out, nothing is waiting to be answered.
    r.core.reply_done(turn)
    tail = resend(r, turn, 160, 600)
    assert not starts(echo(r, tail[-1]))
    assert r.core.turns.phase is TurnPhase.LISTENING


def test_voice_held_for_the_minimum_confirms_the_barge_in_at_the_paused_position() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    r.clock.advance(0.1)
    paused_at = r.clock.now()
    r.core.voice_began(paused_at - 0.03)
    r.core.speech_started(paused_at - 0.03)
    r.clock.advance(0.4)
    assert r.core.voice_lasted(600) == []  # short of the minimum
    r.clock.advance(0.1)
    commands = r.core.voice_lasted(640)
    heard_text = r.core.records[turn].heard_text(260)
    assert actions(commands) == [CancelReply(turn, 260, heard_text), DropQueued(turn)]
    assert not [c for c in commands if isinstance(c, ClearFarEnd)]  # the pause cleared it
    interrupt = r.core.interrupts[-1]
    assert interrupt.at == paused_at and interrupt.confirmed_at == paused_at + 0.5
    assert interrupt.speech_began_at == pytest.approx(paused_at - 0.03)
    assert r.core.voice_ended() == []  # nothing left to resume
    done = r.core.barge_in_done(turn, True, 0)
    assert events(done, Interrupted) == [Interrupted(turn, 260, heard_text, 440)]
    r.core.speech_stopped()
    assert [s.turn_id for s in starts(r.core.utterance("wait stop", r.clock.now()))] == [turn + 1]


def test_words_mode_ignores_length_and_confirms_late_on_meaningful_words() -> None:
    r = rig(policy=InterruptPolicy(min_words=2))
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    assert r.core.voice_lasted(5000) == []
    r.core.voice_ended()
    r.core.speech_stopped()
    resend(r, turn, 160, 300)  # the turn is playing again when the words arrive
    commands = r.core.utterance("no wait", r.clock.now())
    cancel = [c for c in commands if isinstance(c, CancelReply)]
    assert cancel and cancel[0].turn_id == turn
    assert [c for c in commands if isinstance(c, ClearFarEnd)]  # the far end holds it again
    assert events(commands, Transcript) == [Transcript("no wait")]
    answered = starts(r.core.barge_in_done(turn, True, 0))
    assert [s.turn_id for s in answered] == [turn + 1]
    assert r.core.records[turn + 1].transcript == "no wait"


def test_words_mode_backchannel_words_never_confirm() -> None:
    r = rig(policy=InterruptPolicy(min_words=1))
    turn, _ = speaking_turn(r)
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    r.core.voice_ended()
    r.core.speech_stopped()
    commands = r.core.utterance("Yeah, okay. Uh-huh.", r.clock.now())
    # Nothing is done but to let the voice drop the sound it may hold.
    assert actions(commands) == [ForgetSpeech()] and r.core.turns.is_live(turn)


def test_the_pause_is_no_underrun() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    r.core.voice_began(r.clock.now())
    assert underruns(r.core.ran_dry(queued_ms=400)) == 0
    assert underruns(r.core.confirmed(r.flow.confirm(PointReached(marks[0].name)), 400)) == 0
    assert r.core.underruns == 0


def test_a_thinking_turn_is_paused_without_a_clear_and_resumes_from_its_start() -> None:
    r = rig(policy=POLICY)
    turn = answer(r)
    commands = r.core.voice_began(r.clock.now())
    assert actions(commands) == [HoldReply(turn, None)]
    assert actions(r.core.voice_ended()) == [ResumeReply(turn, 0)]


@pytest.mark.parametrize(
    "policy, greeting",
    [
        (InterruptPolicy(provisional=False), ""),
        (InterruptPolicy(greeting=False), "Hello!"),
        (InterruptPolicy(while_thinking=False), ""),
    ],
    ids=["provisional-off", "protected-greeting", "protected-thinking"],
)
def test_no_pause_where_the_policy_would_not_cut(policy: InterruptPolicy, greeting: str) -> None:
    r = rig(greeting=greeting, policy=policy)
    if greeting:
        r.core.start()
        speak(r, 1, 200)
    else:
        answer(r)
    assert r.core.voice_began(r.clock.now()) == []


def test_the_naive_baseline_never_pauses() -> None:
    r = rig(send_clear=False, policy=POLICY)
    turn, _ = speaking_turn(r)
    assert r.core.voice_began(r.clock.now()) == []
    assert r.core.turns.is_live(turn)


def test_voice_while_nothing_is_live_does_nothing() -> None:
    r = rig(policy=POLICY)
    assert r.core.voice_began(T0) == [] and r.core.voice_ended() == []


def test_speech_a_model_declared_without_an_onset_pauses_and_its_end_resumes() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    assert isinstance(actions(r.core.speech_started(r.clock.now()))[0], HoldReply)
    commands = r.core.speech_stopped()
    assert actions(commands)[0] == ResumeReply(turn, 160)
    assert not starts(r.core.utterance(None, r.clock.now()))


def test_a_paced_wire_resumes_without_counting_the_silence_as_a_gap() -> None:
    r = rig(paced=True, policy=POLICY)
    turn, _ = speaking_turn(r)
    played(r, turn, 100)
    r.core.voice_began(r.clock.now())
    for _ in range(10):
        assert underruns(r.core.ran_dry(queued_ms=200)) == 0
    r.core.voice_ended()
    assert r.core.underruns == 0
    assert underruns(r.core.confirmed(r.flow.confirm(RanDry()), 0)) == 0


def test_an_utterance_pairs_with_the_speech_that_ended_by_its_instant() -> None:
    r = rig(policy=POLICY)
    turn, _ = speaking_turn(r)
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    r.core.voice_ended()
    r.core.speech_stopped(at=T0 + 1.0)  # a backchannel; its recognition then fails
    r.clock.advance(2.0)
    r.core.turns.on_played_out(turn)
    r.core.speech_started(r.clock.now())  # a free question once the turn is over
    r.core.speech_stopped(at=T0 + 3.0)
    # Only the second utterance arrives: it is answered, not taken for the backchannel.
    assert [s.turn_id for s in starts(r.core.utterance("what time is it", T0 + 3.0))] == [
        turn + 1
    ]


def test_a_model_that_commits_the_hm_before_our_detector_ends_it_gets_no_answer() -> None:
    r = rig(policy=POLICY)
    turn, marks = speaking_turn(r)
    echo(r, marks[0])
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    r.core.voice_ended()  # resumed: a backchannel
    assert not starts(r.core.utterance(None, r.clock.now()))  # the model committed it first
    r.core.speech_stopped()
    r.core.reply_done(turn)
    tail = resend(r, turn, 160, 600)
    assert not starts(echo(r, tail[-1]))


def test_a_question_committed_early_leaves_nothing_for_the_next_speech_to_take() -> None:
    r = rig(policy=POLICY)
    r.core.speech_started(T0)
    assert [s.turn_id for s in starts(r.core.utterance(None, T0 + 1.0))] == []  # still speaking
    turn = starts(r.core.speech_stopped(T0 + 1.01))[0].turn_id  # answered once it ends
    speak(r, turn, 600)
    r.core.voice_began(r.clock.now())
    r.core.speech_started(r.clock.now())
    r.core.voice_ended()
    # The hm's own early utterance is the hm's, not the question's leftover.
    assert r.core.utterance(None, T0 + 2.0) == [ForgetSpeech()]
    assert r.core.backchannels_ignored == 1
