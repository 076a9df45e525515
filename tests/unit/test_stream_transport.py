"""The shared carrier transport frames agent audio as each carrier requires,
marks after the audio a mark covers, and holds audio between XOFF and XON."""

from __future__ import annotations

import asyncio

import pytest

from gateway.audio.frames import FRAME_BYTES
from gateway.audio.wire_format import WireFormat
from gateway.wire import AudioChunk, Cleared, Mark
from transports.asterisk import CARRIER as ASTERISK
from transports.exotel import CARRIER as EXOTEL
from transports.media_stream.events import Started
from transports.media_stream.transport import StreamTransport
from transports.vonage import CARRIER as VONAGE

pytestmark = pytest.mark.timeout(10)


class Socket:
    def __init__(self) -> None:
        self.sent: list[str | bytes] = []

    async def send_text(self, text: str) -> None:
        self.sent.append(text)

    async def send_bytes(self, data: bytes) -> None:
        self.sent.append(data)


class Dialect:
    def media(self, payload: bytes) -> bytes:
        return payload

    def mark(self, name: str) -> str:
        return f"mark {name}"

    def clear(self) -> str:
        return "clear"


def transport(carrier, wire: WireFormat, frame_bytes: int = 0) -> tuple[StreamTransport, Socket]:
    ws = Socket()
    chunking = carrier.chunking(Started("c", "s", wire, frame_bytes=frame_bytes))
    return StreamTransport(ws, carrier.name, Dialect(), wire, chunking), ws  # type: ignore[arg-type]


def frames(turn: int, n: int, start: int = 0, ulaw: bool = False) -> list[AudioChunk]:
    """20 ms chunks; μ-law ones pass through untouched (no resampler delay)."""
    pcm, mulaw = (b"", b"\xff" * 160) if ulaw else (b"\x10\x00" * (FRAME_BYTES // 2), b"")
    return [AudioChunk(turn, pcm, (start + i) * 20, mulaw) for i in range(n)]


async def test_exotel_gets_messages_of_at_least_3200_bytes_in_multiples_of_320() -> None:
    t, ws = transport(EXOTEL, WireFormat("l16", 8000))
    for chunk in frames(1, 23):
        await t.send_audio(chunk)
    await t.send_mark(Mark("1:1", 1, 460, 460))
    sizes = [len(m) for m in ws.sent if isinstance(m, bytes)]
    assert sizes[:-1] and all(s >= 3200 for s in sizes[:-1]), sizes
    assert all(s % 320 == 0 for s in sizes), sizes
    assert sum(sizes) >= 23 * 320 and ws.sent[-1] == "mark 1:1"


async def test_vonage_gets_exactly_one_20_ms_frame_a_message() -> None:
    t, ws = transport(VONAGE, WireFormat("l16", 16000))
    for chunk in frames(1, 7):
        await t.send_audio(chunk)
    await t.send_mark(Mark("1:1", 1, 140, 140))
    assert [len(m) for m in ws.sent[:-1]] == [640] * 7


async def test_asterisk_audio_waits_between_xoff_and_xon_and_a_flush_releases_it() -> None:
    t, ws = transport(ASTERISK, WireFormat("pcmu", 8000))
    for chunk in frames(1, 3, ulaw=True):
        await t.send_audio(chunk)  # the turn's cushion: three frames in one message
    assert [len(m) for m in ws.sent] == [480]
    t.watermark(full=True)
    held = asyncio.create_task(t.send_audio(frames(1, 1, start=3, ulaw=True)[0]))
    await asyncio.sleep(0.05)
    assert not held.done() and len(ws.sent) == 1
    t.watermark(full=False)
    await asyncio.wait_for(held, 1)
    assert [len(m) for m in ws.sent] == [480, 160] and t.holds == 1

    t.watermark(full=True)
    held = asyncio.create_task(t.send_audio(frames(1, 1, start=4, ulaw=True)[0]))
    await asyncio.sleep(0.05)
    await t.send_clear(Cleared(1, 100, 80))  # FLUSH_MEDIA empties the queue
    await asyncio.wait_for(held, 1)
    # What waited through the clear belongs to the cleared turn: it never follows it.
    assert ws.sent[-1] == "clear" and len(ws.sent) == 3


async def test_exotel_at_24_khz_marks_after_whole_messages_only() -> None:
    wire = WireFormat("l16", 24000)
    t, ws = transport(EXOTEL, wire)
    interval = t.chunking.mark_interval_ms(160, wire)
    assert interval == 160  # four 20 ms frames (3,840 bytes) a message, two a mark
    for mark in range(3):
        for chunk in frames(1, interval // 20, start=mark * 8):
            await t.send_audio(chunk)
        await t.send_mark(Mark(f"1:{mark}", 1, (mark + 1) * interval, interval))
    sizes = [len(m) for m in ws.sent if isinstance(m, bytes)]
    assert all(s >= 3200 and s % 320 == 0 for s in sizes), sizes
    assert EXOTEL.chunking(Started("c", "s", WireFormat("l16", 8000))).mark_interval_ms(
        160, WireFormat("l16", 8000)
    ) == 200  # fmt: skip


async def test_asterisk_frames_follow_the_optimal_frame_size_it_named() -> None:
    t, ws = transport(ASTERISK, WireFormat("pcmu", 8000), frame_bytes=240)  # ptime 30
    for chunk in frames(1, 7, ulaw=True):
        await t.send_audio(chunk)
    await t.send_mark(Mark("1:1", 1, 140, 140))
    sizes = [len(m) for m in ws.sent if isinstance(m, bytes)]
    assert all(s % 240 == 0 for s in sizes) and sum(sizes) >= 7 * 160, sizes
