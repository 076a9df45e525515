"""The shared pump against a recording transport: window, marks, stale drops, stalls."""

import asyncio

import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.call.outbound import OutboundPump, PlayoutStalled
from gateway.call.turns import TurnState
from gateway.clock import FakeClock
from gateway.flow.credit import CreditWindow
from gateway.flow.marks import MarkTracker
from gateway.pipeline.audio_queue import AudioQueue

pytestmark = pytest.mark.timeout(5)


class RecordingTransport:
    kind = "test"

    def __init__(self) -> None:
        self.wire: list[tuple[str, object]] = []

    async def send_audio(self, chunk):
        self.wire.append(("audio", (chunk.turn_id, chunk.offset_ms)))

    async def send_mark(self, mark):
        self.wire.append(("mark", mark.name))

    async def send_clear(self, cleared):
        self.wire.append(("clear", cleared.turn_id))

    def send_event(self, event):
        pass

    async def close(self, code, reason):
        pass


def make(window_ms=100, stall_s=5.0):
    clock = FakeClock()
    turns = TurnState(clock)
    queue = AudioQueue(1000)
    flow = MarkTracker(CreditWindow(window_ms), clock, interval_ms=40)
    transport = RecordingTransport()
    drops: list[AudioChunk] = []
    pump = OutboundPump(queue, flow, transport, turns, stall_s, lambda c: None, drops.append)
    return turns, queue, flow, transport, pump, drops


async def fill(queue, turn, n):
    for i in range(n):
        await queue.put(AudioChunk(turn, bytes(FRAME_BYTES), i * 20))


async def test_the_pump_sends_only_the_window_until_an_echo_returns_credit():
    turns, queue, flow, transport, pump, _ = make(window_ms=100)
    turn = turns.begin_turn()
    await fill(queue, turn, 10)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    audio = [x for kind, x in transport.wire if kind == "audio"]
    marks = [x for kind, x in transport.wire if kind == "mark"]
    assert len(audio) == 5 and flow.window.in_flight_ms == 100
    flow.on_echo(marks[0])
    pump.wake()
    await asyncio.sleep(0.01)
    assert len([1 for kind, _ in transport.wire if kind == "audio"]) == 7
    task.cancel()


async def test_idle_marks_the_tail_so_its_credit_comes_back():
    turns, queue, flow, transport, pump, _ = make(window_ms=1000)
    turn = turns.begin_turn()
    await fill(queue, turn, 3)  # 60 ms: one mark at 40, 20 ms left
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    assert transport.wire[-1] == ("mark", f"{turn}:2")
    assert flow.pending == 2
    task.cancel()


async def test_chunks_of_a_dead_turn_are_dropped_not_sent():
    turns, queue, flow, transport, pump, drops = make(window_ms=1000)
    old = turns.begin_turn()
    await fill(queue, old, 4)
    turns.on_speech_start()
    turns.on_cleared(old)
    new = turns.begin_turn()
    await fill(queue, new, 2)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    assert [x[0] for kind, x in transport.wire if kind == "audio"] == [new, new]
    assert len(drops) == 4
    task.cancel()


async def test_a_full_window_with_no_confirmation_raises_stalled():
    turns, queue, flow, transport, pump, _ = make(window_ms=40, stall_s=0.05)
    turn = turns.begin_turn()
    await fill(queue, turn, 5)
    with pytest.raises(PlayoutStalled):
        await asyncio.wait_for(pump.run(), 1)
    assert flow.window.in_flight_ms == 40


async def test_a_cancel_that_lands_with_the_credit_still_ends_the_pump():
    """A hang-up cancels the pump in the same tick a grant wakes it: the cancel
    must win, or the call lingers until the stall timeout."""
    turns, queue, flow, transport, pump, _ = make(window_ms=40, stall_s=3.0)
    turn = turns.begin_turn()
    await fill(queue, turn, 10)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    assert flow.window.in_flight_ms == 40  # waiting for credit
    pump.wake()
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=1.0)
    assert task in done and task.cancelled()


def audio_sent(transport) -> list[tuple[int, int]]:
    return [x for kind, x in transport.wire if kind == "audio"]


async def test_a_held_turn_sends_nothing_and_resumes_with_the_unheard_frames_first():
    turns, queue, flow, transport, pump, _ = make(window_ms=100)
    turn = turns.begin_turn()
    await fill(queue, turn, 10)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    assert audio_sent(transport) == [(turn, o) for o in range(0, 100, 20)]
    flow.on_echo(f"{turn}:1")  # 40 ms confirmed played
    pump.hold(turn)
    cleared = flow.clear(turn)
    await asyncio.sleep(0.01)
    assert len(audio_sent(transport)) == 5, "nothing goes out while held"
    flow.rewind(turn, cleared.heard_ms)
    pump.resume(turn, 50)  # the listener heard to 50 ms: the frame at 40 plays again
    await asyncio.sleep(0.01)
    again = audio_sent(transport)[5:]
    assert again[:4] == [(turn, 40), (turn, 60), (turn, 80), (turn, 100)]
    assert pump.resent_ms == 60
    task.cancel()


async def test_a_resume_wakes_a_pump_that_was_idle():
    turns, queue, flow, transport, pump, _ = make(window_ms=1000)
    turn = turns.begin_turn()
    await fill(queue, turn, 3)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    pump.hold(turn)
    flow.clear(turn)
    flow.rewind(turn, 0)
    pump.resume(turn, 0)
    await asyncio.sleep(0.01)
    assert audio_sent(transport) == [(turn, 0), (turn, 20), (turn, 40)] * 2
    task.cancel()


async def test_forgetting_a_held_turn_drops_what_was_kept_and_frees_the_pump():
    turns, queue, flow, transport, pump, drops = make(window_ms=100)
    turn = turns.begin_turn()
    await fill(queue, turn, 8)
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    pump.hold(turn)
    flow.clear(turn)
    await asyncio.sleep(0.01)
    turns.on_speech_start()  # the barge-in is confirmed
    assert pump.forget(turn) == 120  # 100 ms sent and unconfirmed, and the frame in hand
    queue.drop_turn(turn)
    nxt = (turns.on_cleared(turn), turns.begin_turn())[1]
    await fill(queue, nxt, 2)
    await asyncio.sleep(0.01)
    assert audio_sent(transport)[-2:] == [(nxt, 0), (nxt, 20)]
    assert not [x for x in audio_sent(transport)[5:] if x[0] == turn]
    task.cancel()
