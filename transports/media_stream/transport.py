"""The send side of a carrier's media stream: agent audio in the wire's format
and in the sizes the carrier accepts, marks after the audio they cover, and
clear. Policy (credit, when to mark, barge-in) lives in the call and the flow
core; this only converts and frames.
"""

from __future__ import annotations

import asyncio
import logging

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.audio.wire_format import OutboundAudio, WireFormat
from gateway.wire import AudioChunk, CallEvent, Cleared, Mark
from transports.media_stream.events import Chunking, Dialect, Outgoing

log = logging.getLogger(__name__)


class StreamTransport:
    paced = False

    def __init__(
        self,
        ws: WebSocket,
        kind: str,
        dialect: Dialect,
        wire: WireFormat,
        chunking: Chunking,
        cushion_frames: int = 3,
        hold_timeout_s: float = 10.0,
    ) -> None:
        self.ws = ws
        self.kind = kind
        self.native_audio = wire.native_audio
        self.dialect = dialect
        self.wire = wire
        self.chunking = chunking
        self._out = OutboundAudio(wire)
        self._turn = 0
        # A turn's first frames go out as one message: the far end then starts
        # with a cushion, and a second frame that jitter delays does not leave
        # the first playing alone.
        self.cushion_bytes = cushion_frames * wire.frame_bytes if cushion_frames > 1 else 0
        self._cushioning = False
        self._held = bytearray()
        # A far end that says its queue is full (Asterisk's MEDIA_XOFF) gets
        # no audio until it says there is room again.
        self._room = asyncio.Event()
        self._room.set()
        self.hold_timeout_s = hold_timeout_s
        self.holds = 0
        self._lock = asyncio.Lock()
        self.closed = False

    async def _send(self, message: Outgoing) -> None:
        if self.closed:
            return
        try:
            async with self._lock:
                if isinstance(message, bytes):
                    await self.ws.send_bytes(message)
                else:
                    await self.ws.send_text(message)
        except (WebSocketDisconnect, RuntimeError):
            # The caller is gone; the receive loop sees the disconnect and ends the call.
            self.closed = True

    async def send_audio(self, chunk: AudioChunk) -> None:
        if chunk.turn_id != self._turn:
            await self._flush()
            self._turn = chunk.turn_id
            self._out.reset()
            self._held.clear()
            self._cushioning = self.cushion_bytes > 0
        self._held += self._out.convert(chunk)
        least = max(self.chunking.least, self.cushion_bytes if self._cushioning else 0)
        if len(self._held) >= max(least, 1):
            await self._flush()

    def _pieces(self, data: bytes) -> list[bytes]:
        c = self.chunking
        size = c.exact or c.most
        short = len(data) % (c.exact or c.multiple)
        if short:
            data += self.wire.silence((c.exact or c.multiple) - short)
        return [data[i : i + size] for i in range(0, len(data), size)]

    async def _flush(self) -> None:
        if not self._held:
            return
        data, self._held = bytes(self._held), bytearray()
        self._cushioning = False
        if not self._room.is_set():
            self.holds += 1
            try:
                await asyncio.wait_for(self._room.wait(), self.hold_timeout_s)
            except TimeoutError:
                log.warning("%s far end held its queue full for %g s", self.kind,
                            self.hold_timeout_s)  # fmt: skip
        for piece in self._pieces(data):
            await self._send(self.dialect.media(piece))

    def watermark(self, full: bool) -> None:
        if full:
            self._room.clear()
        else:
            self._room.set()

    async def send_mark(self, mark: Mark) -> None:
        await self._flush()  # the mark must follow the audio it covers
        await self._send(self.dialect.mark(mark.name))

    async def send_clear(self, cleared: Cleared) -> None:
        self._held.clear()  # never sent: nothing to clear of it
        self._out.reset()
        await self._send(self.dialect.clear())
        # A clear empties the far end's queue: a hold on it no longer applies.
        self._room.set()

    def send_event(self, event: CallEvent) -> None:
        """A phone wire carries no events for the caller; the call logs them."""

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await self.ws.close(code, reason[:120])
            except (RuntimeError, WebSocketDisconnect):
                pass  # the peer is already gone
