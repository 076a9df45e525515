"""The browser WebSocket adapter's writes when audio outruns the socket: audio
waits, a peer that reads nothing is given up on, and audio that waited across
its turn's clear is never written after the clear."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, Counter

from gateway.audio.frames import AudioChunk
from gateway.flow.confirmation import Cleared
from transports.websocket import media
from transports.websocket.media import BrowserTransport
from transports.websocket.protocol import parse_audio_frame

FRAME = b"\\x01\\x00" * 320  # 20 ms at 16 kHz


class Socket:
    """A peer's socket: writes return only as the peer reads (`read`)."""

    application_state = None

    def __init__(self) -> None:
        self.written: list[bytes | str] = []
        self._room = asyncio.Semaphore(0)

    async def send_bytes(self, data: bytes) -> None:
        await self._room.acquire()
        self.written.append(data)

    async def send_text(self, data: str) -> None:
        await self._room.acquire()
        self.written.append(data)

    def read(self, messages: int) -> None:
        for _ in range(messages):
            self._room.release()


def transport(socket: Socket) -> BrowserTransport:
    registry = CollectorRegistry()
    metrics = SimpleNamespace(send_buffer_warnings=Counter("w", "w", ["kind"], registry=registry))
    flow = SimpleNamespace(epoch=0)
    t = BrowserTransport(socket, flow, SimpleNamespace(metrics=metrics))  # type: ignore[arg-type]
    t.start()
    return t


@pytest.fixture
def small_mark(monkeypatch):
    """Four frames' worth, so that a test fills it quickly."""
    monkeypatch.setattr(media, "AUDIO_HIGH_WATER_BYTES", 4 * (len(FRAME) + 8))


async def fill(t: BrowserTransport, turn: int, frames: int) -> None:
    for i in range(frames):
        await t.send_audio(AudioChunk(turn, FRAME, i * 20))


async def waiting(frames: int) -> tuple[Socket, BrowserTransport, asyncio.Task]:
    """A transport whose peer reads nothing yet, and a sender of `frames` of
    turn 1 that is waiting for it."""
    socket = Socket()
    t = transport(socket)
    sender = asyncio.create_task(fill(t, 1, frames))
    await asyncio.sleep(0.05)
    assert not sender.done(), "past the mark, audio waits for the peer"
    return socket, t, sender


@pytest.mark.timeout(10)
async def test_audio_waits_for_the_socket_and_then_goes_in_order(small_mark) -> None:
    socket, t, sender = await waiting(12)
    socket.read(12)
    await asyncio.wait_for(sender, 2)
    socket.read(12)
    await asyncio.sleep(0.05)
    offsets = [parse_audio_frame(m)[1] for m in socket.written]
    assert offsets == [i * 20 for i in range(12)]
    assert not t.broken.is_set()


@pytest.mark.timeout(10)
async def test_audio_that_waited_across_its_turns_clear_is_not_written(small_mark) -> None:
    # One frame in the writer, five queued, the seventh waiting: then the
    # turn is cleared, and (as the pump does) nothing more of it is sent.
    socket, t, sender = await waiting(7)
    await t.send_clear(Cleared(1, dropped_ms=100, heard_ms=40))
    await asyncio.wait_for(sender, 2)
    socket.read(20)
    await asyncio.sleep(0.05)
    after = socket.written[[isinstance(m, str) for m in socket.written].index(True) + 1 :]
    assert '"clear"' in next(m for m in socket.written if isinstance(m, str))
    assert after == [], "nothing of the cleared turn follows its clear"


@pytest.mark.timeout(10)
async def test_a_peer_that_reads_nothing_is_given_up_on(small_mark, monkeypatch) -> None:
    monkeypatch.setattr(media, "SEND_STALL_S", 0.1)
    socket = Socket()
    t = transport(socket)
    await asyncio.wait_for(fill(t, 1, 8), 2)
    assert t.broken.is_set()
