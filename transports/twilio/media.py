"""The Twilio Media Streams WebSocket endpoint: a translator between Twilio's
JSON events and the shared call. Policy (credit, marks, barge-in) lives in the
call and the flow core; this module only converts audio and messages.
"""

from __future__ import annotations

import asyncio
import logging

import numpy as np
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.access.admission import Evicted
from gateway.access.slots import REFUSALS
from gateway.audio import mulaw
from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.audio.resample import StreamResampler
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.flow.credit import CreditWindow
from gateway.flow.marks import MarkTracker
from gateway.runtime.context import GatewayContext
from gateway.wire import Aliases, AudioChunk, Call, CallEvent, Cleared, Mark, PointReached
from transports import close_codes
from transports.call_runner import client_address, run_call
from transports.twilio import protocol
from transports.twilio.protocol import (
    Connected,
    DtmfDigit,
    MarkEcho,
    Media,
    ProtocolError,
    Start,
    Stop,
)
from transports.twilio.webhook import TOKEN_PARAMETER, redeem_token

log = logging.getLogger(__name__)

TWILIO_RATE = 8000
KIND = "twilio"
ERROR_BUDGET = 20
"""Recoverable protocol errors tolerated on one stream before it is closed."""

CLOSE_NORMAL = close_codes.NORMAL
CLOSE_UNSUPPORTED = close_codes.UNSUPPORTED
CLOSE_POLICY = close_codes.POLICY
CLOSE_TOO_BIG = close_codes.TOO_BIG
CLOSE_TRY_LATER = close_codes.TRY_LATER


class StreamRefused(Exception):
    def __init__(self, code: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.kind = kind
        self.reason = reason


class TwilioTransport:
    kind = KIND
    native_audio = "pcmu"
    paced = False

    def __init__(self, ws: WebSocket, stream_sid: str, cushion_frames: int = 3) -> None:
        self.ws = ws
        self.stream_sid = stream_sid
        self._down = StreamResampler(INTERNAL_RATE, TWILIO_RATE)
        self._turn = 0
        self.cushion_frames = cushion_frames
        # A turn's first frames go out as one media message: the far end then
        # starts with a cushion, and a second frame that jitter delays does not
        # leave the first playing alone.
        self._held: list[bytes] = []
        self._lock = asyncio.Lock()
        self.closed = False

    async def _send(self, text: str) -> None:
        if self.closed:
            return
        try:
            async with self._lock:
                await self.ws.send_text(text)
        except (WebSocketDisconnect, RuntimeError):
            # The caller is gone; the receive loop sees the disconnect and ends the call.
            self.closed = True

    async def send_audio(self, chunk: AudioChunk) -> None:
        starting = chunk.turn_id != self._turn
        if starting:
            await self._flush_held()
            self._turn = chunk.turn_id
            self._down.reset()
            self._held = []
        if chunk.ulaw8k:
            payload = chunk.ulaw8k
        else:
            samples = self._down.process(np.frombuffer(chunk.pcm, dtype=np.int16))
            payload = mulaw.encode(samples) if samples.size else b""
        if self._held or (starting and self.cushion_frames > 1):
            self._held.append(payload)
            if len(self._held) >= self.cushion_frames:
                await self._flush_held()
            return
        if payload:
            await self._send(protocol.media_message(self.stream_sid, payload))

    async def _flush_held(self) -> None:
        held, self._held = b"".join(self._held), []
        if held:
            await self._send(protocol.media_message(self.stream_sid, held))

    async def send_mark(self, mark: Mark) -> None:
        await self._flush_held()  # the mark must follow the audio it covers
        await self._send(protocol.mark_message(self.stream_sid, mark.name))

    async def send_clear(self, cleared: Cleared) -> None:
        self._held = []  # never sent: nothing to clear of it
        self._down.reset()
        await self._send(protocol.clear_message(self.stream_sid))

    def send_event(self, event: CallEvent) -> None:
        """Twilio's wire carries no events for the caller; the call logs them."""

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await self.ws.close(code, reason[:120])
            except (RuntimeError, WebSocketDisconnect):
                pass  # the peer is already gone


class _Inbound:
    """Twilio's 8 kHz μ-law to whole 20 ms frames at the internal rate."""

    def __init__(self) -> None:
        self._up = StreamResampler(TWILIO_RATE, INTERNAL_RATE)
        self._pending = b""

    def convert(self, ulaw: bytes) -> bytes:
        pcm = self._pending + self._up.process(mulaw.decode(ulaw)).tobytes()
        whole = len(pcm) - len(pcm) % FRAME_BYTES
        self._pending = pcm[whole:]
        return pcm[:whole]


class TwilioStream:
    """One Media Streams connection, from `connected` to `stop`."""

    def __init__(self, ws: WebSocket, ctx: GatewayContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.errors = 0
        self.call: Call | None = None
        self.transport: TwilioTransport | None = None
        self.disconnect_code: int | None = None

    def _error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.ctx.metrics.protocol_errors.labels(KIND, kind).inc()
        log.warning("twilio protocol error %s: %r", kind, detail)

    async def _receive(self) -> str | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.disconnect_code = message.get("code")
            return None
        if message.get("text") is not None:
            return message["text"]
        raise StreamRefused(
            CLOSE_UNSUPPORTED, "binary_frame", "binary frames are not part of Media Streams"
        )

    async def _await_start(self) -> Start:
        while True:
            text = await self._receive()
            if text is None:
                raise WebSocketDisconnect(CLOSE_NORMAL)
            try:
                event = protocol.parse(text)
            except ProtocolError as exc:
                if exc.kind == "oversized":
                    raise StreamRefused(CLOSE_TOO_BIG, "oversized", exc.detail) from None
                # Before `start` nothing is a glitch of a live call: a stream that
                # cannot begin properly is not Twilio, and is closed at once.
                raise StreamRefused(CLOSE_POLICY, exc.kind, exc.detail) from None
            if isinstance(event, Connected):
                continue
            if isinstance(event, Start):
                return event
            raise StreamRefused(
                CLOSE_POLICY, "out_of_order", f"{type(event).__name__.lower()} before start"
            )

    async def _check_token(self, start: Start) -> tuple[str, ...]:
        """Admits the stream or raises; returns the aliases its record may claim."""
        token = start.custom_parameters.get(TOKEN_PARAMETER)
        if token is None:
            if self.ctx.settings.twilio_auth_token:
                raise StreamRefused(CLOSE_POLICY, "bad_token", "missing stream token")
            return ()  # development mode: no auth token configured, no webhook required
        try:
            redeemed = await redeem_token(self.ctx, token, start.call_sid)
        except ClusterUnavailable:
            raise StreamRefused(
                CLOSE_TRY_LATER, "cluster_unavailable", REFUSALS["cluster_unavailable"]
            ) from None
        if redeemed is None:
            raise StreamRefused(CLOSE_POLICY, "bad_token", "unknown or expired stream token")
        if redeemed.call_sid and start.call_sid != redeemed.call_sid:
            raise StreamRefused(CLOSE_POLICY, "bad_token", "the token was issued for another call")
        return (redeemed.call_sid,) if redeemed.call_sid else ()

    async def _admit(self) -> tuple[Start, tuple[str, ...]]:
        """Accept, then wait for a valid `start` as a pending connection: no
        slot, no model, no task but this one until the stream shows its token."""
        ctx = self.ctx
        assert ctx.pending is not None
        ticket = ctx.pending.enter(client_address(self.ws))
        try:
            await self.ws.accept()
            timeout = ctx.settings.twilio_start_timeout_s
            try:
                start = await ctx.pending.run(ticket, self._await_start(), timeout)
            except TimeoutError:
                raise StreamRefused(
                    CLOSE_POLICY, "start_timeout", f"no start within {timeout:g} s"
                ) from None
            except Evicted:
                raise StreamRefused(
                    CLOSE_TRY_LATER, "evicted", "too many pending connections; retry"
                ) from None
            return start, await self._check_token(start)
        finally:
            ctx.pending.leave(ticket)

    async def serve(self) -> None:
        try:
            start, trusted = await self._admit()
        except StreamRefused as refused:
            await self._refuse(refused)
            return
        except WebSocketDisconnect:
            return
        assert self.ctx.slots is not None
        slot = await self.ctx.slots.take()
        if isinstance(slot, str):
            await self._refuse(StreamRefused(CLOSE_TRY_LATER, slot, REFUSALS[slot]))
            return
        try:
            await self._run_call(start, trusted)
        except WebSocketDisconnect:
            pass
        finally:
            await self.ctx.slots.give(slot)

    async def _refuse(self, refused: StreamRefused) -> None:
        self._error(refused.kind, refused.reason)
        try:
            await self.ws.close(refused.code, refused.reason)
        except (WebSocketDisconnect, RuntimeError):
            pass

    async def _run_call(self, start: Start, trusted: tuple[str, ...]) -> None:
        ctx = self.ctx
        self.transport = TwilioTransport(self.ws, start.stream_sid)
        window = CreditWindow(ctx.settings.window_ms(ctx.settings.twilio_window_ms))
        flow = MarkTracker(window, ctx.clock, ctx.settings.twilio_mark_interval_ms)
        log.info("twilio stream %r started for call %r", start.stream_sid, start.call_sid)
        await run_call(
            ctx,
            ctx.next_call_id("tw"),
            self.transport,
            flow,
            self._receive_loop,
            self._bind,
            aliases=Aliases(
                trusted=trusted,
                claimed=tuple(a for a in (start.call_sid, start.stream_sid) if a not in trusted),
            ),
        )

    def _bind(self, call: Call) -> None:
        self.call = call

    async def _receive_loop(self, call: Call) -> tuple[int, str]:
        inbound = _Inbound()
        while True:
            try:
                text = await self._receive()
            except StreamRefused as refused:
                self._error(refused.kind, refused.reason)
                return refused.code, refused.reason
            except WebSocketDisconnect as gone:
                return CLOSE_NORMAL, close_codes.disconnect_reason(gone.code)
            if text is None:
                return CLOSE_NORMAL, close_codes.disconnect_reason(self.disconnect_code)
            try:
                event = protocol.parse(text)
            except ProtocolError as exc:
                self._error(exc.kind, exc.detail)
                if exc.kind == "oversized":
                    return CLOSE_TOO_BIG, "oversized message"
                if self.errors >= ERROR_BUDGET:
                    return CLOSE_POLICY, "too many protocol errors"
                continue
            if isinstance(event, Media):
                await call.on_audio(inbound.convert(event.payload), event.payload)
            elif isinstance(event, MarkEcho):
                if not call.confirm(PointReached(event.name)):
                    self._error("unknown_mark", event.name[:60])
            elif isinstance(event, DtmfDigit):
                call.on_dtmf(event.digit)
            elif isinstance(event, Stop):
                return CLOSE_NORMAL, "stream stopped"
            else:
                self._error("unexpected", f"{type(event).__name__} after start")
            if self.errors >= ERROR_BUDGET:
                return CLOSE_POLICY, "too many protocol errors"
