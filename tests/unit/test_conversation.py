"""The turn rules of one call, driven through the sans-I/O `Conversation` core.

A FakeClock and a real MarkTracker (Twilio: echoed marks) or GrantTracker
(browser: grants and played acks) over a CreditWindow stand in for the far
end. "Sending" is what the pump does: `flow.on_sent` per 20 ms frame, after
`core.reply_audio` made the audio, with `core.first_sent` on a turn's first
frame. Confirmations go through the flow and then `core.confirmed`, as
`Call.confirm` does.
"""

from __future__ import annotations

import pytest

from gateway.call.conversation import TURNS_KEPT
from gateway.call.events import (
    AgentText,
    Interrupted,
    PlayoutPosition,
    StateChanged,
    Transcript,
)
from gateway.call.interrupt_policy import InterruptPolicy
from gateway.call.turn_commands import (
    CancelReply,
    ClearFarEnd,
    CountUnderrun,
    DropQueued,
    Emit,
    EndCall,
    StartReply,
)
from gateway.call.turns import TurnPhase
from gateway.flow.confirmation import Confirmed, PlayedTo, PointReached, RoomGranted
from gateway.flow.marks import Cleared
from tests.unit.conversation_rig import (
    T0,
    actions,
    answer,
    echo,
    events,
    played,
    rig,
    speak,
    starts,
    states,
    two_sentences,
    underruns,
)

pytestmark = pytest.mark.timeout(5)

def test_start_with_a_greeting_begins_turn_1_thinking_and_starts_the_greeting() -> None:
    r = rig(greeting="Hello!")
    assert r.core.start() == [Emit(StateChanged("thinking", 1)), StartReply(1, "Hello!")]
    assert r.core.turns.phase is TurnPhase.THINKING and r.core.turns.is_live(1)
    assert r.core.records[1].user_ended_at is None


def test_a_turn_records_the_callers_words_it_answers() -> None:
    r = rig(greeting="Hello!")
    r.core.start()
    assert r.core.records[1].transcript == ""
    r.core.speech_started(T0)  # cuts the greeting
    r.core.barge_in_done(1, True, 0)
    r.core.utterance("what time", T0 + 1)
    r.core.utterance("is it", T0 + 2)
    r.core.speech_stopped()
    assert r.core.records[2].transcript == "what time is it"


def test_start_without_a_greeting_commands_nothing() -> None:
    r = rig()
    assert r.core.start() == []
    assert r.core.turns.phase is TurnPhase.LISTENING and r.core.turns.turn_id == 0


# ---- when a reply starts -----------------------------------------------------


def test_a_reply_starts_after_an_utterance_with_words_once_the_caller_stopped() -> None:
    r = rig()
    assert r.core.speech_started(99.0) == []
    assert r.core.speech_stopped() == []
    assert r.core.utterance("  what time is it ", 101.5) == [
        Emit(Transcript("what time is it")),
        Emit(StateChanged("thinking", 1)),
        StartReply(1, None),
    ]
    assert r.core.records[1].user_ended_at == 101.5


def test_an_utterance_while_the_caller_still_speaks_waits_for_speech_stopped() -> None:
    r = rig()
    r.core.speech_started(99.0)
    assert r.core.utterance("hello", 100.0) == [Emit(Transcript("hello"))]
    assert r.core.turns.turn_id == 0
    assert starts(r.core.speech_stopped()) == [StartReply(1, None)]


@pytest.mark.parametrize("text", ["", "   "])
def test_an_utterance_of_sound_without_words_starts_nothing(text: str) -> None:
    r = rig()
    r.core.speech_started(99.0)
    r.core.speech_stopped()
    assert r.core.utterance(text, 100.0) == []
    assert r.core.speech_stopped() == []
    assert r.core.turns.turn_id == 0


def test_an_utterance_a_speech_to_speech_voice_took_as_audio_starts_a_reply() -> None:
    r = rig()
    r.core.speech_started(99.0)
    r.core.speech_stopped()
    commands = r.core.utterance(None, 100.0)
    assert events(commands, Transcript) == []
    assert starts(commands) == [StartReply(1, None)]


def test_several_utterances_before_the_caller_stops_make_one_reply() -> None:
    r = rig()
    r.core.speech_started(99.0)
    assert starts(r.core.utterance("I would like", 100.0)) == []
    assert starts(r.core.utterance("a pizza", 101.0)) == []
    assert starts(r.core.utterance(None, 102.0)) == []
    assert starts(r.core.speech_stopped()) == [StartReply(1, None)]
    assert r.core.records[1].user_ended_at == 102.0
    assert r.core.turns.turn_id == 1


def test_words_that_arrive_while_a_turn_is_live_are_answered_once_it_is_played_out() -> None:
    r = rig()
    turn = answer(r)
    # A late final transcript: the caller is silent, but a turn is live.
    assert starts(r.core.utterance("and the weather", 100.5)) == []
    marks = speak(r, turn, 160)
    r.core.reply_done(turn)
    commands = echo(r, marks[-1])
    assert states(commands) == ["listening", "thinking"]
    assert starts(commands) == [StartReply(2, None)]


def test_a_transcript_is_emitted_only_when_it_has_text() -> None:
    r = rig()
    assert r.core.transcript("hel", final=False) == [Emit(Transcript("hel", False))]
    assert r.core.transcript("") == []


# ---- barge-in ----------------------------------------------------------------


@pytest.mark.parametrize("grants", [False, True], ids=["marks", "grants"])
def test_barge_in_while_thinking_cancels_and_drops_without_clearing_the_far_end(
    grants: bool,
) -> None:
    r = rig(greeting="Hello!", grants=grants)
    r.core.start()
    r.clock.advance(0.5)
    commands = r.core.speech_started(T0 + 0.4)
    assert commands == [
        Emit(StateChanged("interrupted", 1)),
        CancelReply(1, 0, ""),
        DropQueued(1),
    ]
    record = r.core.interrupts[-1]
    assert (record.turn_id, record.heard_ms, record.dropped_in_flight_ms) == (1, 0, 0)
    assert r.core.barge_in_done(1, True, 0) == [
        Emit(Interrupted(1, 0, "", 0)),
        Emit(StateChanged("listening", 1)),
    ]


def test_barge_in_while_speaking_cancels_then_drops_then_clears_the_far_end() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    r.clock.advance(0.1)
    echo(r, marks[0])
    r.clock.advance(0.1)
    commands = r.core.speech_started(T0 + 0.15)
    assert commands[0] == Emit(StateChanged("interrupted", turn))
    assert [type(c) for c in actions(commands)] == [CancelReply, DropQueued, ClearFarEnd]


def test_barge_in_heard_ms_is_the_playout_position_interpolated_from_the_last_echo() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    r.clock.advance(0.1)
    echo(r, marks[0])  # 160 ms confirmed played
    r.clock.advance(0.1)  # 100 ms later the listener is at 260 ms
    assert r.flow.position_ms(turn) == 260
    commands = r.core.speech_started(T0 + 0.15)
    heard_text = "Hello there friend. How"  # all of the first sentence, 30% of the second
    assert actions(commands) == [
        CancelReply(turn, 260, heard_text),
        DropQueued(turn),
        ClearFarEnd(Cleared(turn, 240, 260)),  # 400 sent - 160 echoed were in flight
    ]
    record = r.core.interrupts[-1]
    assert (record.turn_id, record.heard_ms, record.heard_text) == (turn, 260, heard_text)
    assert record.dropped_in_flight_ms == 240
    now = r.clock.now()
    assert (record.at, record.speech_began_at, record.cleared_at) == (now, T0 + 0.15, now)
    assert r.flow.window.in_flight_ms == 0


def test_barge_in_heard_ms_stops_at_the_next_pending_mark() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    echo(r, marks[0])
    r.clock.advance(1.0)  # far longer than the 160 ms up to the next mark
    cancel = actions(r.core.speech_started(T0))[0]
    assert cancel == CancelReply(turn, 320, "Hello there friend. How are")


def test_barge_in_heard_ms_is_capped_at_what_was_sent() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    echo(r, marks[1])  # 320 ms confirmed; the last 80 ms carry no mark yet
    r.clock.advance(0.05)
    assert r.flow.position_ms(turn) == 370
    r.clock.advance(1.0)
    cancel = actions(r.core.speech_started(T0))[0]
    assert cancel == CancelReply(turn, 400, "Hello there friend. How are you today?")


def test_barge_in_done_emits_interrupted_and_returns_to_listening() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    echo(r, marks[0])
    r.clock.advance(0.1)
    r.core.speech_started(T0)
    assert r.core.turns.phase is TurnPhase.INTERRUPTED
    assert r.core.barge_in_done(turn, True, 120) == [
        Emit(Interrupted(turn, 260, "Hello there friend. How", 240)),
        Emit(StateChanged("listening", turn)),
    ]
    record = r.core.interrupts[-1]
    assert record.cancelled_work is True and record.dropped_queue_ms == 120
    assert r.core.turns.phase is TurnPhase.LISTENING


def test_barge_in_done_for_a_turn_never_interrupted_does_nothing() -> None:
    r = rig()
    answer(r)
    assert r.core.barge_in_done(1, True, 0) == []
    assert r.core.turns.is_live(1)


def test_speech_during_the_greeting_interrupts_it() -> None:
    r = rig(greeting="Hello! How can I help?")
    r.core.start()
    speak(r, 1, 200, "Hello! How can I help?")
    assert r.core.turns.phase is TurnPhase.SPEAKING
    r.clock.advance(0.1)
    commands = r.core.speech_started(T0 + 0.08)
    assert actions(commands) == [
        CancelReply(1, 100, "Hello! How"),
        DropQueued(1),
        ClearFarEnd(Cleared(1, 200, 100)),
    ]
    assert not r.core.turns.is_live(1)


def test_a_greeting_the_policy_protects_plays_whole_and_the_caller_is_answered_after() -> None:
    policy = InterruptPolicy(greeting=False, provisional=False)
    r = rig(greeting="Hello! How can I help?", policy=policy)
    r.core.start()
    marks = speak(r, 1, 160, "Hello! How can I help?")
    r.core.reply_done(1)
    assert r.core.speech_started(T0) == []
    assert r.core.turns.is_live(1) and not r.core.interrupts
    r.core.speech_stopped()
    assert r.core.utterance("what time is it", T0 + 1) == [Emit(Transcript("what time is it"))]
    commands = echo(r, marks[-1])  # the greeting played out: now the question
    assert StartReply(2, None) in commands
    # Later turns are interruptible as ever.
    speak(r, 2, 200)
    assert CancelReply(2, 0, "") in r.core.speech_started(T0 + 2)


def test_a_reply_still_thinking_is_not_cut_when_the_policy_says_so() -> None:
    r = rig(policy=InterruptPolicy(while_thinking=False, provisional=False))
    turn = answer(r)
    assert r.core.speech_started(T0 + 0.1) == []
    assert r.core.turns.is_live(turn)
    r.core.speech_stopped()
    r.core.utterance("and tomorrow", T0 + 1)
    marks = speak(r, turn, 160)  # it speaks now, and is interruptible again
    assert any(isinstance(c, CancelReply) for c in r.core.speech_started(T0 + 2))
    assert marks


def test_a_second_speech_started_while_the_caller_speaks_does_nothing() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200)
    assert actions(r.core.speech_started(T0))  # the first detector: a barge-in
    assert r.core.speech_started(T0 + 0.01) == []  # the second agrees: nothing more
    assert len(r.core.interrupts) == 1
    assert r.core.speech_started(T0 + 0.02) == []


# ---- confirmations that cross a clear ---------------------------------------


def test_a_mark_echoed_after_the_clear_is_voided() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    echo(r, marks[0])
    r.clock.advance(0.05)
    r.core.speech_started(T0)  # heard 210 ms; the mark at 320 is still pending
    heard = r.flow.position_ms(turn)
    confirmed = r.flow.confirm(PointReached(marks[1].name))  # it crossed the clear
    assert confirmed.valid and confirmed.turn_id is None and confirmed.returned_ms == 0
    assert r.core.confirmed(confirmed, 0) == []  # no position, no underrun
    r.clock.advance(1.0)
    assert r.flow.position_ms(turn) == heard == 210
    assert r.flow.confirmed_ms(turn) == 160
    assert r.flow.window.in_flight_ms == 0


def test_a_browser_played_ack_after_the_clear_does_not_move_the_position_past_it() -> None:
    r = rig(grants=True)
    turn = answer(r)
    speak(r, turn, 400, "one two three four")
    r.clock.advance(0.1)
    played(r, turn, 100)
    r.clock.advance(0.06)
    r.core.speech_started(T0)
    assert r.core.interrupts[-1].heard_ms == 160
    commands = r.core.confirmed(r.flow.confirm(PlayedTo(turn, 400)), 0)  # crossed the clear
    assert underruns(commands) == 0 and states(commands) == []
    r.clock.advance(1.0)
    assert r.flow.position_ms(turn) == 160
    assert r.flow.confirmed_ms(turn) == 100


def test_no_playout_position_past_the_clear_is_reported_for_an_interrupted_turn() -> None:
    r = rig(grants=True)
    turn = answer(r)
    speak(r, turn, 400)
    r.clock.advance(0.16)
    r.core.speech_started(T0)  # heard 160 ms
    commands = r.core.confirmed(r.flow.confirm(PlayedTo(turn, 400)), 0)
    assert all(e.position_ms <= 160 for e in events(commands, PlayoutPosition))


def test_a_thinking_barge_in_keeps_the_browser_in_the_grant_epoch() -> None:
    r = rig(greeting="Hi.", grants=True)
    far_epoch = r.flow.epoch  # what the browser was told in its welcome
    r.core.start()
    speak(r, 1, 200)
    r.core.reply_done(1)
    assert states(played(r, 1, 200)) == ["listening"]
    assert r.flow.window.in_flight_ms == 0
    turn = answer(r)
    for command in r.core.speech_started(T0):  # the caller talks over the thinking
        if isinstance(command, ClearFarEnd):
            far_epoch = r.flow.epoch  # the runner sends the clear with the epoch
    r.core.barge_in_done(turn, True, 0)
    turn = answer(r, "sorry, go on")
    speak(r, turn, 400)
    r.core.confirmed(r.flow.confirm(RoomGranted(400, far_epoch)), 0)
    assert r.flow.window.in_flight_ms == 0  # else the pump stalls once 800 ms are out


def test_an_apology_over_a_thinking_turn_keeps_the_browser_in_the_grant_epoch() -> None:
    r = rig(grants=True)
    far_epoch = r.flow.epoch
    turn = answer(r)
    for command in r.core.apologise("Sorry."):
        if isinstance(command, ClearFarEnd):
            far_epoch = r.flow.epoch
    speak(r, turn + 1, 400)
    r.core.confirmed(r.flow.confirm(RoomGranted(400, far_epoch)), 0)
    assert r.flow.window.in_flight_ms == 0


# ---- stale audio ---------------------------------------------------------------


def test_reply_audio_returns_the_offset_of_the_audio_in_its_turn() -> None:
    r = rig()
    turn = answer(r)
    assert [r.core.reply_audio(turn, 200, "a") for _ in range(3)] == [0, 200, 400]
    assert r.core.records[turn].produced_ms == 600


def test_audio_of_an_interrupted_turn_is_stale() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "one two")
    r.core.speech_started(T0)
    assert r.core.reply_audio(turn, 200, "three four") is None
    r.core.barge_in_done(turn, True, 0)
    assert r.core.reply_audio(turn, 200, "three four") is None
    assert r.core.records[turn].produced_ms == 200
    assert [s.text for s in r.core.records[turn].spans] == ["one two"]


def test_audio_of_an_unknown_or_finished_turn_is_stale() -> None:
    r = rig()
    turn = answer(r)
    assert r.core.reply_audio(turn + 1, 200) is None
    r.core.reply_audio(turn, 200)
    r.core.reply_done(turn)
    assert r.core.reply_audio(turn, 200) is None


def test_reply_text_is_spoken_at_the_current_end_of_the_audio() -> None:
    r = rig()
    turn = answer(r)
    r.core.reply_audio(turn, 200, "one two")
    assert r.core.reply_text(turn, "three") == [Emit(AgentText(turn, "three"))]
    record = r.core.records[turn]
    assert (record.spans[-1].start_ms, record.spans[-1].end_ms) == (200, 200)
    assert record.heard_text(199) == "one"
    assert record.heard_text(200) == "one two three"


def test_reply_text_of_an_interrupted_turn_is_not_recorded_as_spoken() -> None:
    r = rig()
    turn = answer(r)
    r.core.reply_audio(turn, 200, "one two")
    r.core.speech_started(T0)
    r.core.reply_text(turn, "three")
    assert [s.text for s in r.core.records[turn].spans] == ["one two"]


# ---- the end of a turn -------------------------------------------------------


def test_first_sent_moves_thinking_to_speaking_once() -> None:
    r = rig()
    turn = answer(r)
    r.clock.advance(0.3)
    sent_at = r.clock.now()
    assert r.core.first_sent(turn) == [Emit(StateChanged("speaking", turn))]
    assert r.core.records[turn].first_sent_at == sent_at
    r.clock.advance(0.1)
    assert r.core.first_sent(turn) == []
    assert r.core.records[turn].first_sent_at == sent_at


def test_the_turn_ends_when_playout_of_a_finished_reply_is_confirmed_not_when_sent() -> None:
    r = rig()
    turn = answer(r)
    marks = two_sentences(r, turn)
    tail = r.flow.flush()
    assert tail is not None and tail.turn_pos_ms == 400
    assert r.core.reply_done(turn) == []  # every frame sent, none confirmed
    assert r.core.turns.phase is TurnPhase.SPEAKING
    assert states(echo(r, marks[0]) + echo(r, marks[1])) == []
    assert r.core.turns.phase is TurnPhase.SPEAKING
    assert echo(r, tail) == [
        Emit(PlayoutPosition(turn, 400)),
        Emit(StateChanged("listening", turn)),
    ]
    assert not r.core.turns.is_live(turn)


def test_a_reply_confirmed_to_its_end_before_it_is_finished_ends_when_it_finishes() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    assert states(echo(r, marks[0])) == []
    assert r.core.turns.phase is TurnPhase.SPEAKING  # the voice may say more
    assert r.core.reply_done(turn) == [Emit(StateChanged("listening", turn))]
    assert r.core.reply_done(turn) == []


def test_a_finished_reply_without_audio_ends_at_once() -> None:
    r = rig()
    turn = answer(r)
    assert r.core.reply_done(turn) == [Emit(StateChanged("listening", turn))]


def test_the_browser_turn_ends_on_the_played_ack_of_its_last_sample() -> None:
    r = rig(grants=True)
    turn = answer(r)
    speak(r, turn, 400)
    r.core.reply_done(turn)
    assert states(played(r, turn, 380)) == []
    assert states(played(r, turn, 400)) == ["listening"]


def test_only_the_records_of_the_last_turns_are_kept() -> None:
    r = rig()
    for _ in range(TURNS_KEPT + 2):
        turn = answer(r)
        r.core.reply_done(turn)
    assert sorted(r.core.records) == list(range(3, TURNS_KEPT + 3))


# ---- underruns -----------------------------------------------------------------


def test_a_confirmation_emptying_the_window_of_an_unfinished_turn_is_an_underrun() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    assert echo(r, marks[0]) == [Emit(PlayoutPosition(turn, 160)), CountUnderrun()]


def test_no_underrun_while_audio_is_still_in_flight() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 320)
    assert underruns(echo(r, marks[0])) == 0
    assert underruns(echo(r, marks[1])) == 1


def test_an_underrun_when_the_far_end_ran_dry_with_audio_still_queued_here() -> None:
    # The gateway fell behind (its loop saturated): the caller hears the gap all the same.
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    assert underruns(echo(r, marks[0], queued_ms=40)) == 1


def test_no_underrun_when_the_reply_is_finished() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    r.core.reply_audio(turn, 80)  # made, and in the pump's hand: neither queued nor sent
    r.core.reply_done(turn)
    commands = echo(r, marks[0])
    assert underruns(commands) == 0 and r.core.turns.is_live(turn)


def test_no_underrun_when_the_last_confirmation_ends_the_turn() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    r.core.reply_done(turn)
    assert underruns(echo(r, marks[0])) == 0


def test_no_underrun_for_a_confirmation_of_a_turn_no_longer_live() -> None:
    r = rig(send_clear=False)
    turn = answer(r)
    marks = speak(r, turn, 160)
    r.core.speech_started(T0)
    assert echo(r, marks[0]) == [Emit(PlayoutPosition(turn, 160))]


def test_ran_dry_before_the_first_send_is_no_underrun() -> None:
    r = rig()
    answer(r)
    assert r.core.ran_dry(0) == []
    assert r.core.starved_frames == 0


def test_ran_dry_after_the_first_send_of_an_unfinished_turn_is_an_underrun() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 60)
    assert r.core.ran_dry(0) == [CountUnderrun()]
    assert r.core.ran_dry(0) == []  # the same gap: one underrun, two starved frames
    assert r.core.starved_frames == 2 and r.core.underruns == 1
    # Audio plays again (the pacer sent a frame), then runs dry: a second gap.
    r.core.confirmed(Confirmed(True, 20), 0)
    assert r.core.ran_dry(0) == [CountUnderrun()]
    assert r.core.underruns == 2


def test_ran_dry_of_a_finished_turn_is_an_underrun_only_while_audio_is_queued() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 60)
    r.core.reply_done(turn)
    assert r.core.ran_dry(0) == []
    assert r.core.starved_frames == 0
    assert r.core.ran_dry(40) == [CountUnderrun()]
    assert r.core.starved_frames == 1


def test_audio_sent_late_is_an_underrun_even_at_the_end_of_a_finished_turn() -> None:
    r = rig(paced=True)
    turn = answer(r)
    speak(r, turn, 60)
    r.core.reply_done(turn)
    assert r.core.ran_dry(0, late=True) == [CountUnderrun()]


def test_on_a_paced_wire_an_empty_window_is_no_gap_by_itself() -> None:
    # The pacer sent the cushion's last frame: the far end holds it. Only the
    # pacer finding nothing at the next deadline is a gap.
    r = rig(paced=True)
    turn = answer(r)
    speak(r, turn, 60)
    grant = r.flow.confirm(RoomGranted(60, r.flow.epoch))
    assert r.flow.window.in_flight_ms == 0
    assert underruns(r.core.confirmed(grant, 0)) == 0
    assert r.core.ran_dry(0) == [CountUnderrun()]


def test_ran_dry_with_no_live_turn_is_no_underrun() -> None:
    r = rig()
    assert r.core.ran_dry(0) == []
    turn = answer(r)
    speak(r, turn, 60)
    r.core.speech_started(T0)
    assert r.core.ran_dry(40) == []
    assert r.core.starved_frames == 0


# ---- the naive baseline --------------------------------------------------------


def test_naive_barge_in_clears_nothing_and_heard_ms_is_the_position() -> None:
    r = rig(send_clear=False)
    turn = answer(r)
    marks = two_sentences(r, turn)
    echo(r, marks[0])
    r.clock.advance(0.1)
    commands = r.core.speech_started(T0)
    assert actions(commands) == [
        CancelReply(turn, 260, "Hello there friend. How"),
        DropQueued(turn),
    ]
    assert r.core.interrupts[-1].dropped_in_flight_ms == 0
    assert r.flow.window.in_flight_ms == 240  # the far end still holds and plays it
    assert events(r.core.barge_in_done(turn, True, 0), Interrupted) == [
        Interrupted(turn, 260, "Hello there friend. How", 0)
    ]
    # Its marks are not voided: the far end plays on and echoes them.
    assert echo(r, marks[1]) == [Emit(PlayoutPosition(turn, 320))]


def test_naive_barge_in_while_thinking_clears_nothing() -> None:
    r = rig(greeting="Hello!", send_clear=False)
    r.core.start()
    assert actions(r.core.speech_started(T0)) == [CancelReply(1, 0, ""), DropQueued(1)]


# ---- the apology of a failed voice -------------------------------------------


def test_apologise_drops_the_live_turn_and_starts_the_apology() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200, "one two")
    assert r.core.apologise("Sorry.") == [
        CancelReply(turn, 0, ""),
        DropQueued(turn),
        ClearFarEnd(Cleared(turn, 200, 0)),
        Emit(StateChanged("thinking", turn + 1)),
        StartReply(turn + 1, "Sorry."),
    ]
    assert not r.core.turns.is_live(turn) and r.core.turns.is_live(turn + 1)
    assert r.flow.window.in_flight_ms == 0
    assert r.core.reply_audio(turn, 200) is None


def test_apologise_with_no_live_turn_just_starts_the_apology() -> None:
    r = rig()
    assert r.core.apologise("Sorry.") == [
        Emit(StateChanged("thinking", 1)),
        StartReply(1, "Sorry."),
    ]


def test_speech_after_the_apology_is_ignored() -> None:
    r = rig()
    r.core.apologise("Sorry.")
    assert r.core.speech_started(T0) == []
    assert r.core.speech_stopped() == []
    assert starts(r.core.utterance("hello?", T0)) == []
    assert r.core.turns.is_live(1)


def test_the_call_ends_once_the_apology_is_played_out() -> None:
    r = rig()
    r.core.apologise("Sorry.")
    marks = speak(r, 1, 200, "Sorry.")
    tail = r.flow.flush()
    assert tail is not None
    assert r.core.reply_done(1) == []
    assert echo(r, marks[0]) == [Emit(PlayoutPosition(1, 160))]
    assert echo(r, tail) == [
        Emit(PlayoutPosition(1, 200)),
        Emit(StateChanged("listening", 1)),
        EndCall("voice failed"),
    ]


def test_an_apology_without_audio_ends_the_call_when_it_finishes() -> None:
    r = rig()
    r.core.apologise("Sorry.")
    assert r.core.reply_done(1) == [Emit(StateChanged("listening", 1)), EndCall("voice failed")]


# ---- utterances during a barge-in --------------------------------------------


def test_an_utterance_during_a_barge_in_is_answered_after_barge_in_done() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200)
    r.core.speech_started(T0 + 0.1)
    assert r.core.speech_stopped() == []
    assert starts(r.core.utterance("stop, wait", T0 + 0.5)) == []
    assert r.core.turns.phase is TurnPhase.INTERRUPTED
    commands = r.core.barge_in_done(turn, True, 0)
    assert states(commands) == ["listening", "thinking"]
    assert starts(commands) == [StartReply(turn + 1, None)]
    assert r.core.records[turn + 1].user_ended_at == T0 + 0.5


def test_barge_in_done_while_the_caller_still_speaks_waits_for_speech_stopped() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 200)
    r.core.speech_started(T0 + 0.1)
    r.core.utterance("stop", T0 + 0.3)
    assert starts(r.core.barge_in_done(turn, True, 0)) == []
    assert starts(r.core.speech_stopped()) == [StartReply(turn + 1, None)]


def test_a_question_cut_off_before_any_answer_is_answered_after_a_wordless_sound() -> None:
    r = rig()
    turn = answer(r)
    r.core.speech_started(T0 + 0.5)  # a cough while the agent thinks
    r.core.barge_in_done(turn, True, 0)
    r.core.speech_stopped()
    starts = [c for c in r.core.utterance("", T0 + 1.0) if isinstance(c, StartReply)]
    assert starts == [StartReply(turn + 1, None)]


def test_a_wordless_sound_after_a_cut_answer_that_was_heard_starts_nothing() -> None:
    r = rig()
    turn = answer(r)
    speak(r, turn, 400)
    r.core.first_sent(turn)
    r.core.speech_started(T0 + 0.5)  # over the spoken answer: not a cut question
    r.core.barge_in_done(turn, True, 0)
    r.core.speech_stopped()
    assert not [c for c in r.core.utterance("", T0 + 1.0) if isinstance(c, StartReply)]
