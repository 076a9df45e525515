"""A fake carrier for tests and benchmarks: any carrier's media stream, spoken
by one of the far ends in far_ends.py.

It sends the caller's audio every 20 ms in real time in the wire's format,
plays what it receives in real time, acknowledges a point (mark, checkpoint,
notify) only once the audio before it has played, and on a clear drops its
buffer and either acknowledges or silently drops the points still queued, as
that carrier does. A far end with a bounded queue (Asterisk) raises its
XOFF/XON watermarks and counts audio that arrived past the limit, which the
real one would lose. Everything played is logged on the monotonic clock.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import websockets

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import StreamResampler
from gateway.testing.far_ends import FAR_ENDS, FarEnd, Message
from gateway.testing.playout import Listener, Received
from gateway.testing.realtime_caller import RealtimeCaller

XOFF_AT = 900
XON_BELOW = 800


@dataclass(slots=True)
class _Audio:
    data: bytes
    source: Received


@dataclass(slots=True)
class _Point:
    name: str


class CarrierCaller(RealtimeCaller):
    def __init__(
        self,
        carrier: str,
        url: str,
        *,
        token: str | None = None,
        parameters: dict[str, str] | None = None,
        call_id: str | None = None,
        listener: Listener | None = None,
        noise_dbfs: float | None = None,
        far_end: FarEnd | None = None,
    ) -> None:
        super().__init__(noise_dbfs=noise_dbfs, listener=listener)
        self.carrier = carrier
        self.url = url
        self.far = far_end or FAR_ENDS[carrier](token=token, parameters=parameters or {})
        if call_id:
            self.far.call_id = call_id
        self.points_acked: list[tuple[float, str]] = []
        self.clears: list[float] = []
        self.problems: list[str] = []
        self.overflowed_ms = 0.0
        """Audio that arrived while the queue was full: a real far end drops it."""
        self.xoffs = 0
        self.peak_queue_frames = 0
        self._buffer: deque[_Audio | _Point] = deque(maxlen=200_000)
        self._buffered_bytes = 0
        self._unattributed: list[Received] = []
        self._down = StreamResampler(INTERNAL_RATE, self.far.wire.rate)
        self._ws: websockets.ClientConnection | None = None
        self._xoff = False

    async def __aenter__(self) -> CarrierCaller:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    @property
    def frame_bytes(self) -> int:
        return self.far.wire.frame_bytes

    async def connect(self) -> None:
        self._ws = await websockets.connect(self.url, max_size=2**20)
        for message in self.far.opening():
            await self._ws.send(message)
        self._start_loops(self._receive_loop)

    async def hang_up(self) -> None:
        closing = self.far.closing()
        if self._ws is not None and self.close_code is None and closing is not None:
            try:
                await self._ws.send(closing)
                # The gateway answers a stop by closing: read that close, or
                # the client's own close would wait out its handshake timeout.
                await self.wait_until(lambda: self.closed, timeout=2)
            except (websockets.ConnectionClosed, TimeoutError):
                pass
        if self._ws is not None:
            # Closed while the receive loop still reads, so the gateway's
            # close frame completes the handshake at once.
            await self._ws.close()
        await self._stop_loops()

    async def _send(self, message: Message) -> None:
        if self._ws is None:
            return
        try:
            await self._ws.send(message)
        except websockets.ConnectionClosed:
            pass

    async def _send_mic(self, samples: np.ndarray) -> None:
        await self._send(self.far.mic(self.far.wire.encode(self._down.process(samples))))

    async def _receive_loop(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                got = self.far.read(raw)
                if got.problem:
                    self.problems.append(got.problem)
                if got.audio:
                    await self._on_audio(got.audio)
                elif got.point is not None:
                    self._on_point(got.point)
                elif got.clear:
                    await self._on_clear()
        except websockets.ConnectionClosed as closed:
            rcvd = closed.rcvd
            self.close_code = rcvd.code if rcvd else 1006
            self.close_reason = rcvd.reason if rcvd else ""
            return
        self.close_code = self._ws.close_code or 1000
        self.close_reason = self._ws.close_reason or ""

    @property
    def queued_frames(self) -> int:
        return self._buffered_bytes // self.frame_bytes

    async def _on_audio(self, data: bytes) -> None:
        limit = self.far.queue_frames
        if limit and self.queued_frames >= limit:
            self.overflowed_ms += len(data) / self.far.wire.bytes_per_ms
            return
        source = Received()
        self._unattributed.append(source)
        self._buffer.append(_Audio(data, source))
        self._buffered_bytes += len(data)
        self.peak_queue_frames = max(self.peak_queue_frames, self.queued_frames)
        self._arrived(len(data) / self.far.wire.bytes_per_ms)
        await self._watermarks()

    async def _watermarks(self) -> None:
        if not self.far.queue_frames:
            return
        if not self._xoff and self.queued_frames >= XOFF_AT:
            self._xoff = True
            self.xoffs += 1
            await self._send(self.far.watermark(True))  # type: ignore[attr-defined]
        elif self._xoff and self.queued_frames < XON_BELOW:
            self._xoff = False
            await self._send(self.far.watermark(False))  # type: ignore[attr-defined]

    def _on_point(self, name: str) -> None:
        turn = int(name.split(":", 1)[0]) if name.split(":", 1)[0].isdigit() else None
        for source in self._unattributed:
            source.turn = turn
        self._unattributed.clear()
        self._buffer.append(_Point(name))

    async def _ack(self, name: str) -> None:
        self.points_acked.append((time.monotonic(), name))
        await self._send(self.far.ack(name))

    async def _on_clear(self) -> None:
        self.clears.append(time.monotonic())
        pending = [item.name for item in self._buffer if isinstance(item, _Point)]
        self._buffer.clear()
        self._buffered_bytes = 0
        if self.far.echo_on_clear:
            for name in pending:
                await self._ack(name)
        cleared = self.far.cleared()
        if cleared is not None:
            await self._send(cleared)
        await self._watermarks()

    async def _take_frame(self) -> tuple[int, Received | None]:
        while self._buffer and isinstance(self._buffer[0], _Point):
            await self._ack(self._buffer.popleft().name)  # type: ignore[union-attr]
        source = None
        need = self.frame_bytes
        while need and self._buffer:
            head = self._buffer[0]
            if isinstance(head, _Point):
                # Reached inside this frame: the audio before it is playing out now.
                self._buffer.popleft()
                await self._ack(head.name)
                continue
            source = source or head.source
            take = head.data[:need]
            need -= len(take)
            self._buffered_bytes -= len(take)
            if len(take) == len(head.data):
                self._buffer.popleft()
            else:
                head.data = head.data[len(take) :]
        await self._watermarks()
        return (self.frame_bytes - need) // self.far.wire.bytes_per_ms, source

    @property
    def buffered_ms(self) -> float:
        return self._buffered_bytes / self.far.wire.bytes_per_ms
