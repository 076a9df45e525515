"""A far end that paces itself runs dry when the gateway sends late: the drain
estimate (gateway/flow/drain.py) and the rule that counts each such gap once."""

from __future__ import annotations

import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.clock import FakeClock
from gateway.flow.credit import CreditWindow
from gateway.flow.drain import DELAYS_KEPT, FarEndDrain
from gateway.flow.grants import GrantTracker
from tests.unit.conversation_rig import T0, answer, echo, played, rig, speak, underruns

pytestmark = pytest.mark.timeout(5)


def test_audio_drains_back_to_back_from_its_first_send() -> None:
    clock = FakeClock(T0)
    drain = FarEndDrain(clock)
    drain.sent(1, 0, 20)
    assert drain.dry_at(1) is None  # the far end's delay is not known yet
    drain.confirmed(1, 20)  # played the moment it could: no delay
    drain.sent(1, 20, 160)
    clock.advance(0.1)
    drain.sent(1, 160, 320)  # queued behind the first 160 ms
    assert drain.dry_at(1) == pytest.approx(T0 + 0.32)
    clock.advance(0.5)  # the far end ran dry at T0 + 0.32
    drain.sent(1, 320, 400)  # starts when sent
    assert drain.dry_at(1) == pytest.approx(T0 + 0.6 + 0.08)


def test_the_far_ends_delay_is_the_least_of_the_last_few_confirmations() -> None:
    clock = FakeClock(T0)
    drain = FarEndDrain(clock)
    drain.sent(1, 0, 320)
    clock.advance(0.16 + 0.05)  # 160 ms confirmed 50 ms after it could have played
    drain.confirmed(1, 160)
    assert drain.latency_s == pytest.approx(0.05)
    clock.advance(0.16 + 0.4)  # a loop that read the next one late cannot raise it
    drain.confirmed(1, 320)
    assert drain.latency_s == pytest.approx(0.05)
    assert drain.dry_at(1) == pytest.approx(T0 + 0.32 + 0.05)
    for n in range(DELAYS_KEPT):  # a far end that really is later now raises it
        drain.sent(1, 320 + n * 20, 340 + n * 20)
        clock.advance(0.3)
        drain.confirmed(1, 340 + n * 20)
    assert drain.latency_s > 0.2


def test_a_cleared_turn_has_no_dry_time_and_a_resumed_one_starts_now() -> None:
    clock = FakeClock(T0)
    drain = FarEndDrain(clock)
    drain.sent(1, 0, 20)
    drain.confirmed(1, 20)
    drain.sent(1, 20, 400)
    drain.forget(1)
    assert drain.dry_at(1) is None
    clock.advance(1.0)
    drain.restart(1)
    drain.sent(1, 200, 260)
    assert drain.dry_at(1) == pytest.approx(T0 + 1.0 + 0.06)


def test_a_wire_the_gateway_paces_keeps_no_drain_estimate() -> None:
    """WebRTC's pacer judges late frames itself: no estimate is kept per frame."""
    clock = FakeClock(T0)
    flow = GrantTracker(CreditWindow(100), clock, paced=True)
    flow.on_sent(AudioChunk(1, bytes(FRAME_BYTES), 0))
    flow.on_played(1, 20)
    clock.advance(1.0)
    assert flow.positions.drain is None and flow.dry_at(1) is None
    assert flow.position_ms(1) == 20


def _send(r, turn: int, offset: int) -> list:
    """The pump hands the next frame of the turn to the wire."""
    commands = r.core.sending(turn)
    r.flow.on_sent(AudioChunk(turn, bytes(FRAME_BYTES), offset))
    return commands


@pytest.mark.parametrize("grants", [False, True], ids=["marks", "grants"])
def test_a_send_after_the_far_end_ran_dry_is_one_gap(grants: bool) -> None:
    r = rig(grants=grants)
    turn = answer(r)
    speak(r, turn, 100)
    r.flow.positions.drain.confirmed(turn, 20)  # the far end showed no delay
    r.core.reply_audio(turn, 100)
    r.clock.advance(0.1 + 0.015)  # within one frame of slack: still in time
    assert underruns(_send(r, turn, 100)) == 0
    r.clock.advance(0.2)  # the loop stalled past the far end's buffer
    assert underruns(_send(r, turn, 120)) == 1
    assert underruns(_send(r, turn, 140)) == 0  # right behind it: the same gap is over
    r.clock.advance(0.5)
    assert underruns(_send(r, turn, 160)) == 1  # a second stall, a second gap
    assert r.core.underruns == 2


def test_a_gap_the_last_echo_already_counted_is_not_counted_again() -> None:
    r = rig()
    turn = answer(r)
    marks = speak(r, turn, 160)
    r.flow.positions.drain.confirmed(turn, 20)
    r.core.reply_audio(turn, 40)
    r.clock.advance(0.4)
    assert underruns(echo(r, marks[0], queued_ms=40)) == 1  # nothing in flight
    assert underruns(_send(r, turn, 160)) == 0
    assert r.core.underruns == 1


def test_no_gap_on_a_paced_wire_or_for_a_turn_no_longer_live() -> None:
    paced = rig(paced=True)
    turn = answer(paced)
    speak(paced, turn, 100)
    paced.clock.advance(1.0)
    assert paced.core.sending(turn) == []  # its pacer counts late frames itself
    r = rig(grants=True)
    turn = answer(r)
    speak(r, turn, 100)
    played(r, turn, 100)
    r.core.speech_started(T0 + 1.0)  # a barge-in ends the turn
    r.clock.advance(1.0)
    assert r.core.sending(turn) == []


def test_nothing_is_late_before_the_far_end_has_shown_its_delay() -> None:
    r = rig()
    turn = answer(r)
    r.clock.advance(5.0)
    assert r.core.sending(turn) == []  # the turn's first frame
    speak(r, turn, 100)
    r.clock.advance(5.0)
    assert r.core.sending(turn) == []  # no confirmation yet
