import asyncio

import pytest

from gateway.audio.frames import FRAME_BYTES, AudioChunk
from gateway.pipeline.audio_queue import AudioQueue

pytestmark = pytest.mark.timeout(5)


def chunk(turn: int, i: int) -> AudioChunk:
    return AudioChunk(turn, bytes(FRAME_BYTES), i * 20)


async def test_a_full_queue_makes_the_producer_wait():
    queue = AudioQueue(limit_ms=60)
    for i in range(3):
        await queue.put(chunk(1, i))
    blocked = asyncio.create_task(queue.put(chunk(1, 3)))
    await asyncio.sleep(0.01)
    assert not blocked.done() and queue.buffered_ms == 60
    assert (await queue.get()).offset_ms == 0
    await asyncio.wait_for(blocked, 1)
    assert queue.buffered_ms == 60 and queue.peak_ms == 60


async def test_dropping_a_turn_removes_only_its_chunks_and_frees_the_producer():
    queue = AudioQueue(limit_ms=80)
    await queue.put(chunk(1, 0))
    await queue.put(chunk(2, 0))
    await queue.put(chunk(2, 1))
    await queue.put(chunk(1, 1))
    blocked = asyncio.create_task(queue.put(chunk(1, 2)))
    await asyncio.sleep(0)
    assert queue.drop_turn(1) == 40
    await asyncio.wait_for(blocked, 1)
    got = [queue.get_nowait() for _ in range(3)]
    assert [(c.turn_id, c.offset_ms) for c in got] == [(2, 0), (2, 20), (1, 40)]
    assert queue.get_nowait() is None
