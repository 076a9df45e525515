import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.clock import FakeClock
from gateway.flow.credit import CreditWindow
from gateway.flow.marks import MarkTracker


def chunk(turn: int, index: int) -> AudioChunk:
    return AudioChunk(turn, bytes(FRAME_BYTES), index * 20)


def send(tracker: MarkTracker, turn: int, frames: range) -> list:
    return [m for i in frames if (m := tracker.on_sent(chunk(turn, i))) is not None]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(100.0)


@pytest.fixture
def tracker(clock) -> MarkTracker:
    return MarkTracker(CreditWindow(800), clock, interval_ms=160)


def test_a_mark_is_placed_every_interval_of_sent_audio(tracker):
    marks = send(tracker, 1, range(20))  # 400 ms
    assert [m.turn_pos_ms for m in marks] == [160, 320]
    assert all(m.covers_ms == 160 for m in marks)
    assert tracker.window.in_flight_ms == 400


def test_flush_marks_the_unmarked_tail_once(tracker):
    send(tracker, 1, range(10))  # 200 ms: one mark at 160, 40 ms unmarked
    tail = tracker.flush()
    assert tail is not None and tail.covers_ms == 40 and tail.turn_pos_ms == 200
    assert tracker.flush() is None


def test_an_echo_returns_the_credit_of_every_mark_up_to_it(tracker):
    first, second = send(tracker, 1, range(16))
    echo = tracker.on_echo(second.name)
    assert echo.returned_ms == 320 and echo.mark == second
    assert tracker.window.in_flight_ms == 0 and tracker.pending == 0


def test_playout_position_follows_echoes_and_elapsed_time_capped_at_the_next_mark(tracker, clock):
    first, second = send(tracker, 1, range(16))
    clock.advance(0.05)
    assert tracker.position_ms(1) == 50  # anchored at the first send
    clock.advance(1.0)
    assert tracker.position_ms(1) == 160  # capped at the next pending mark
    tracker.on_echo(first.name)
    assert tracker.confirmed_ms(1) == 160
    clock.advance(0.1)
    assert tracker.position_ms(1) == 260
    clock.advance(1.0)
    assert tracker.position_ms(1) == 320


def test_clear_returns_all_credit_and_voids_pending_marks(tracker, clock):
    first, second = send(tracker, 1, range(20))
    clock.advance(0.1)
    cleared = tracker.clear(1)
    assert cleared.dropped_ms == 400 and cleared.heard_ms == 100
    assert tracker.window.in_flight_ms == 0
    # Twilio echoes pending marks after a clear: they must not return credit again.
    tracker.window.sent(20)
    echo = tracker.on_echo(first.name)
    assert echo.voided and echo.returned_ms == 0 and not echo.unknown
    assert tracker.window.in_flight_ms == 20
    assert tracker.confirmed_ms(1) == 0


def test_a_clear_with_nothing_in_flight_is_harmless(tracker):
    cleared = tracker.clear(7)
    assert (cleared.dropped_ms, cleared.heard_ms) == (0, 0)
    assert tracker.window.in_flight_ms == 0


def test_an_echo_for_a_mark_never_sent_is_unknown(tracker):
    send(tracker, 1, range(8))
    echo = tracker.on_echo("1:999")
    assert echo.unknown and echo.returned_ms == 0
    assert tracker.window.in_flight_ms == 160


def test_an_echo_that_arrives_twice_returns_credit_once(tracker):
    (mark,) = send(tracker, 1, range(8))
    assert tracker.on_echo(mark.name).returned_ms == 160
    assert tracker.on_echo(mark.name).unknown
    assert tracker.window.excess_returned_ms == 0


def test_a_new_turn_needs_the_old_turns_tail_marked_first(tracker):
    send(tracker, 1, range(3))
    assert tracker.needs_flush_before(2)
    with pytest.raises(RuntimeError):
        tracker.on_sent(chunk(2, 0))
    tail = tracker.flush()
    assert tail is not None and tail.turn_id == 1
    assert not tracker.needs_flush_before(2)
    tracker.on_sent(chunk(2, 0))


def test_a_played_ack_that_crossed_the_clear_is_accepted_and_ignored():
    from gateway.flow.grants import GrantTracker

    clock = FakeClock()
    flow = GrantTracker(CreditWindow(800), clock)
    for i in range(10):
        flow.on_sent(chunk(3, i))
    clock.advance(0.05)
    cleared = flow.clear(3)
    assert flow.on_played(3, 120)  # played past the heard estimate before the clear arrived
    assert flow.position_ms(3) == cleared.heard_ms
    assert not flow.on_played(3, 500)  # never sent: still an error
