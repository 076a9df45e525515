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
from gateway.wire import AudioChunk, CallControl, CallEvent, Cleared, Mark
from transports.media_stream.events import Chunking, Dialect, Outgoing

log = logging.getLogger(__name__)


BATCH_MS = 160
"""Agent audio per media message once a turn is under way: eight frames, one
default mark interval. Carriers take larger payloads than 20 ms, and a message
costs the loop far more than its bytes do."""


class StreamTransport:
    paced = False
    batch_ms = BATCH_MS

    def __init__(
        self,
        ws: WebSocket,
        kind: str,
        dialect: Dialect,
        wire: WireFormat,
        chunking: Chunking,
        cushion_frames: int = 3,
        hold_timeout_s: float = 10.0,
        stream_id: str = "",
    ) -> None:
        self.ws = ws
        self.kind = kind
        self.stream_id = stream_id
        """The carrier's id of this stream (Twilio's streamSid), for logs and tests."""
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
        self._turn_start = False
        self._clears = 0
        self._held = bytearray()
        # A far end that says its queue is full (Asterisk's MEDIA_XOFF) gets
        # no audio until it says there is room again.
        self._room = asyncio.Event()
        self._room.set()
        self.hold_timeout_s = hold_timeout_s
        self.holds = 0
        self._lock = asyncio.Lock()
        self.closed = False
        self.control: CallControl | None = None
        """The carrier's REST API for this call (hang-up, transfer), where set up."""

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

    @property
    def _unit(self) -> int:
        """The size every message is a whole number of (1: any size)."""
        return self.chunking.exact or self.chunking.multiple

    async def send_audio(self, chunk: AudioChunk) -> None:
        if chunk.turn_id != self._turn:
            await self._flush(final=True)
            self._turn = chunk.turn_id
            self._out.reset()
            self._held.clear()
            self._cushioning = self.cushion_bytes > 0
            self._turn_start = True
        self._held += self._out.convert(chunk)
        cushion = self.cushion_bytes if self._cushioning else 0
        if len(self._held) >= max(self.chunking.least, cushion, self._unit):
            await self._flush(final=False)

    def _take(self, final: bool) -> bytes:
        """Whole units of what is held; the rest stays held, or at the end of
        what a mark covers (`final`) is padded with silence to a whole unit."""
        unit, held = self._unit, self._held
        if self._turn_start and len(held) % unit:
            # The outbound resampler's first output of a turn is a little short:
            # silence goes in front, so the turn's later frames stay whole.
            held[0:0] = self.wire.silence(unit - len(held) % unit)
        self._turn_start = False
        if final and len(held) % unit:
            held += self.wire.silence(unit - len(held) % unit)
        whole = len(held) - len(held) % unit
        data = bytes(held[:whole])
        del held[:whole]
        return data

    async def _flush(self, final: bool) -> None:
        data = self._take(final)
        if not data:
            return
        self._cushioning = False
        clears = self._clears
        if not self._room.is_set():
            self.holds += 1
            try:
                await asyncio.wait_for(self._room.wait(), self.hold_timeout_s)
            except TimeoutError:
                log.warning("%s far end held its queue full for %g s", self.kind,
                            self.hold_timeout_s)  # fmt: skip
        c = self.chunking
        size = c.exact or c.most - c.most % self._unit
        for i in range(0, len(data), size):
            if self._clears != clears:
                return  # cleared while this waited: none of it may follow the clear
            await self._send(self.dialect.media(data[i : i + size]))

    def watermark(self, full: bool) -> None:
        if full:
            self._room.clear()
        else:
            self._room.set()

    async def send_mark(self, mark: Mark) -> None:
        await self._flush(final=True)  # the mark must follow the audio it covers
        await self._send(self.dialect.mark(mark.name))

    async def send_clear(self, cleared: Cleared) -> None:
        self._clears += 1
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
