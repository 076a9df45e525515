from gateway.call.turns import TurnPhase, TurnState
from gateway.clock import FakeClock


def test_a_turn_goes_thinking_speaking_listening_on_playout():
    turns = TurnState(FakeClock())
    turn = turns.begin_turn()
    assert turns.phase is TurnPhase.THINKING and turns.is_live(turn)
    assert turns.on_playout_started(turn).phase is TurnPhase.SPEAKING
    assert turns.on_played_out(turn).phase is TurnPhase.LISTENING
    assert not turns.is_live(turn)


def test_speech_while_speaking_interrupts_at_the_instant_and_kills_the_turn():
    clock = FakeClock(5.0)
    turns = TurnState(clock)
    turn = turns.begin_turn()
    turns.on_playout_started(turn)
    clock.advance(1.5)
    interrupt = turns.on_speech_start()
    assert interrupt is not None
    assert (interrupt.turn_id, interrupt.at, interrupt.phase) == (turn, 6.5, TurnPhase.SPEAKING)
    assert turns.phase is TurnPhase.INTERRUPTED and not turns.is_live(turn)
    assert turns.on_cleared(turn).phase is TurnPhase.LISTENING


def test_speech_while_thinking_cancels_the_pending_reply():
    turns = TurnState(FakeClock())
    turn = turns.begin_turn()
    interrupt = turns.on_speech_start()
    assert interrupt is not None and interrupt.phase is TurnPhase.THINKING
    assert not turns.is_live(turn)


def test_speech_while_listening_is_not_an_interrupt():
    turns = TurnState(FakeClock())
    assert turns.on_speech_start() is None
    turn = turns.begin_turn()
    turns.on_played_out(turn)
    assert turns.on_speech_start() is None


def test_late_signals_for_a_dead_turn_change_nothing():
    turns = TurnState(FakeClock())
    old = turns.begin_turn()
    turns.on_speech_start()
    turns.on_cleared(old)
    new = turns.begin_turn()
    assert turns.on_playout_started(old) is None
    assert turns.on_played_out(old) is None
    assert turns.is_live(new) and turns.phase is TurnPhase.THINKING


def test_a_second_turn_cannot_start_while_one_is_live():
    import pytest

    turns = TurnState(FakeClock())
    turns.begin_turn()
    with pytest.raises(RuntimeError):
        turns.begin_turn()
