"""The browser WebSocket's send queue: bounded in bytes, and a sender that can
outrun the socket waits for room instead of being closed as a peer that does
not read."""

from __future__ import annotations

import asyncio

import pytest

from transports.websocket.send_queue import Outgoing, SendQueue


def filled(n: int, size: int = 100, turn: int = 1) -> SendQueue:
    queue = SendQueue(limit_bytes=10_000, warn_bytes=5_000)
    for _ in range(n):
        assert queue.put(Outgoing(b"x" * size, turn))
    return queue


def test_a_put_past_the_limit_is_refused_and_changes_nothing() -> None:
    queue = filled(100)
    assert queue.queued_bytes == 10_000
    assert not queue.put(Outgoing(b"y"))
    assert queue.queued_bytes == 10_000


async def test_a_sender_waits_until_the_writer_takes_it_below_the_mark() -> None:
    queue = filled(10)  # 1,000 bytes
    waiter = asyncio.create_task(queue.until_below(700, 5))
    await asyncio.sleep(0.01)
    assert not waiter.done(), "1,000 bytes queued is above the mark"
    for _ in range(2):
        await queue.get()
    await asyncio.sleep(0.01)
    assert not waiter.done(), "800 bytes is still above it"
    await queue.get()
    await asyncio.wait_for(waiter, 1)
    assert queue.queued_bytes == 700


async def test_a_clear_that_drops_the_turn_lets_the_sender_go() -> None:
    queue = filled(10, turn=3)
    waiter = asyncio.create_task(queue.until_below(0, 5))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    assert queue.drop_turn(3) == 1_000
    await asyncio.wait_for(waiter, 1)


async def test_releasing_the_queue_frees_every_waiting_sender() -> None:
    queue = filled(10)
    waiters = [asyncio.create_task(queue.until_below(0, 5)) for _ in range(3)]
    await asyncio.sleep(0.01)
    assert not any(w.done() for w in waiters)
    queue.release()
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    # Released for good: a later sender does not wait either.
    await asyncio.wait_for(queue.until_below(0, 5), 1)


@pytest.mark.parametrize("queued", [0, 500])
async def test_a_sender_under_the_mark_does_not_wait(queued: int) -> None:
    queue = filled(queued // 100)
    assert await asyncio.wait_for(queue.until_below(500, 5), 0.1)


async def test_a_sender_gives_up_when_nothing_leaves_the_queue() -> None:
    queue = filled(10)
    assert await queue.until_below(0, 0.05) is False
    assert queue.queued_bytes == 1_000
