"""Several frames per message: the pump joins contiguous frames of one turn
that are ready now, within the credit and up to the next mark, and keeps its
frame-by-frame record for a resume."""

from __future__ import annotations

import asyncio

import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.call.outbound import OutboundPump
from gateway.call.turns import TurnState
from gateway.clock import FakeClock
from gateway.flow.credit import CreditWindow
from gateway.flow.grants import GrantTracker
from gateway.flow.marks import MarkTracker
from gateway.pipeline.audio_queue import AudioQueue
from tests.unit.test_outbound_pump import RecordingTransport, fill

pytestmark = pytest.mark.timeout(5)


class BatchingTransport(RecordingTransport):
    def __init__(self, batch_ms: int) -> None:
        super().__init__()
        self.batch_ms = batch_ms

    async def send_audio(self, chunk: AudioChunk) -> None:
        self.wire.append(("audio", (chunk.turn_id, chunk.offset_ms, chunk.duration_ms)))


def make(window_ms: int = 1000, batch_ms: int = 160, grants: bool = False):
    clock = FakeClock()
    turns = TurnState(clock)
    queue = AudioQueue(2000)
    window = CreditWindow(window_ms)
    flow = GrantTracker(window, clock) if grants else MarkTracker(window, clock, interval_ms=160)
    transport = BatchingTransport(batch_ms)
    pump = OutboundPump(queue, flow, transport, turns, 5.0, lambda c: None, lambda c: None)
    return turns, queue, flow, transport, pump


async def run_briefly(pump: OutboundPump) -> asyncio.Task:
    task = asyncio.create_task(pump.run())
    await asyncio.sleep(0.01)
    return task


async def test_a_message_carries_the_frames_up_to_the_next_mark_and_the_mark_follows():
    turns, queue, flow, transport, pump = make()
    turn = turns.begin_turn()
    await fill(queue, turn, 20)  # 400 ms
    task = await run_briefly(pump)
    assert transport.wire == [
        ("audio", (turn, 0, 160)), ("mark", f"{turn}:1"),
        ("audio", (turn, 160, 160)), ("mark", f"{turn}:2"),
        ("audio", (turn, 320, 80)), ("mark", f"{turn}:3"),  # idle: the tail is marked
    ]  # fmt: skip
    assert [m.turn_pos_ms for m in flow._pending] == [160, 320, 400]
    assert pump.sends == 3 and pump.sent_ms == 400
    task.cancel()


async def test_a_message_never_carries_more_than_the_credit():
    turns, queue, flow, transport, pump = make(window_ms=100, grants=True)
    turn = turns.begin_turn()
    await fill(queue, turn, 10)
    task = await run_briefly(pump)
    assert transport.wire == [("audio", (turn, 0, 100))]
    flow.window.returned(60)
    pump.wake()
    await asyncio.sleep(0.01)
    assert transport.wire[1:] == [("audio", (turn, 100, 60))]
    assert flow.window.in_flight_ms == 100
    task.cancel()


async def test_a_message_never_spans_two_turns_and_a_paced_wire_gets_single_frames():
    turns, queue, flow, transport, pump = make(grants=True)
    first = turns.begin_turn()
    await fill(queue, first, 2)
    turns.on_speech_start()
    turns.on_cleared(first)
    second = turns.begin_turn()
    await fill(queue, second, 3)
    task = await run_briefly(pump)
    assert [x for kind, x in transport.wire if kind == "audio"] == [(second, 0, 60)]
    task.cancel()
    turns, queue, flow, transport, pump = make(batch_ms=20)
    turn = turns.begin_turn()
    await fill(queue, turn, 3)
    task = await run_briefly(pump)
    assert [x for kind, x in transport.wire if kind == "audio"] == [
        (turn, 0, 20), (turn, 20, 20), (turn, 40, 20)
    ]  # fmt: skip
    task.cancel()


async def test_a_resume_after_a_batch_starts_at_the_heard_frame_not_the_message():
    turns, queue, flow, transport, pump = make(window_ms=200)
    turn = turns.begin_turn()
    await fill(queue, turn, 10)
    task = await run_briefly(pump)
    assert [x for kind, x in transport.wire if kind == "audio"] == [(turn, 0, 160), (turn, 160, 40)]
    pump.hold(turn)
    cleared = flow.clear(turn)
    flow.rewind(turn, cleared.heard_ms)
    pump.resume(turn, 90)  # heard to 90 ms, inside the first message
    await asyncio.sleep(0.01)
    again = [x for kind, x in transport.wire if kind == "audio"][2:]
    assert again[0] == (turn, 80, 120)  # the unheard frames, from the one holding 90 ms
    assert pump.resent_ms == 120
    task.cancel()


async def test_joined_frames_carry_the_same_bytes_in_order():
    turns, queue, flow, transport, pump = make()
    got: list[AudioChunk] = []

    async def keep(chunk: AudioChunk) -> None:
        got.append(chunk)

    transport.send_audio = keep  # type: ignore[method-assign]
    turn = turns.begin_turn()
    frames = [bytes([i]) * FRAME_BYTES for i in range(4)]
    for i, pcm in enumerate(frames):
        await queue.put(AudioChunk(turn, pcm, i * 20, ulaw8k=bytes([i]) * 160))
    task = await run_briefly(pump)
    assert len(got) == 1 and got[0].pcm == b"".join(frames)
    assert got[0].ulaw8k == b"".join(bytes([i]) * 160 for i in range(4))
    task.cancel()
