import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.clock import FakeClock
from gateway.flow.pacer import Pacer


def chunk(turn, i):
    return AudioChunk(turn, bytes(FRAME_BYTES), i * 20)


def test_deadlines_are_absolute_and_do_not_drift_when_the_caller_is_late():
    clock = FakeClock(10.0)
    pacer = Pacer(clock, cushion_ms=60)
    assert pacer.next_deadline() == 10.0
    pacer.emit()
    clock.advance(0.035)  # woke 15 ms late
    assert pacer.next_deadline() == pytest.approx(10.02)
    pacer.emit()
    assert pacer.next_deadline() == pytest.approx(10.04)


def test_the_cushion_is_bounded_and_silence_fills_an_empty_one():
    pacer = Pacer(FakeClock(), cushion_ms=60)
    for i in range(3):
        pacer.push(chunk(1, i))
    assert not pacer.has_room()
    with pytest.raises(OverflowError):
        pacer.push(chunk(1, 3))
    assert [pacer.emit().offset_ms for _ in range(3)] == [0, 20, 40]
    assert pacer.emit() is None and pacer.silent_frames == 1


def test_flush_drops_only_the_turn_and_keeps_the_clock():
    clock = FakeClock()
    pacer = Pacer(clock, cushion_ms=100)
    pacer.push(chunk(1, 0))
    pacer.push(chunk(1, 1))
    pacer.push(chunk(2, 0))
    pacer.emit()
    deadline = pacer.next_deadline()
    assert pacer.flush(1) == 20
    assert pacer.next_deadline() == deadline
    assert pacer.emit().turn_id == 2


def test_heard_position_lags_emission_by_the_playout_delay():
    clock = FakeClock()
    pacer = Pacer(clock, cushion_ms=200)
    for i in range(10):
        pacer.push(chunk(1, i))
    for _ in range(10):
        pacer.emit()
        clock.advance(0.02)
    # 200 ms emitted; with 60 ms of delay the listener has heard up to 140 ms.
    assert pacer.heard_position(0.060) == (1, 140)


def test_a_late_wake_is_one_gap_however_many_frames_catch_up() -> None:
    clock = FakeClock(10.0)
    pacer = Pacer(clock, cushion_ms=60, late_ms=40)
    for i in range(3):
        pacer.push(chunk(1, i))
    pacer.emit()
    assert pacer.late_runs == 0 and not pacer.behind
    clock.advance(0.2)  # the loop stalled: nine frames are due at once
    began = []
    for _ in range(9):
        pacer.emit()
        began.append(pacer.gap_began)
    assert began == [True] + [False] * 8
    assert pacer.late_frames == 2 and pacer.late_runs == 1
    assert pacer.behind  # silence while catching up is the same gap
    pacer.push(chunk(1, 3))
    clock.advance(0.02)
    pacer.emit()  # on time again
    assert not pacer.behind and pacer.late_runs == 1


def test_a_frame_a_little_late_is_no_gap() -> None:
    clock = FakeClock(10.0)
    pacer = Pacer(clock, cushion_ms=60, late_ms=40)
    pacer.push(chunk(1, 0))
    pacer.push(chunk(1, 1))
    pacer.emit()
    clock.advance(0.05)  # 30 ms past the second deadline: inside the cushion
    pacer.emit()
    assert pacer.late_frames == 0 and not pacer.gap_began
