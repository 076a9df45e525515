"""The browser WebSocket endpoint (sluice.browser v1): a translator between the
wire and the shared call. Credit and positions live in GrantTracker; this
module parses, converts and writes.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from gateway.access.admission import Evicted
from gateway.access.slots import REFUSALS
from gateway.access.tokens import token_matches
from gateway.audio.caller_audio import CallerAudio
from gateway.audio.frames import FRAME_MS
from gateway.flow.credit import CreditWindow
from gateway.flow.grants import BadGrant, GrantTracker
from gateway.runtime.context import GatewayContext
from gateway.wire import AudioChunk, Call, CallEvent, Cleared, Mark, PlayedTo, RoomGranted
from transports import close_codes
from transports.call_runner import client_address, run_call
from transports.direct import Ending, Handler, asgi_data, direct_of, receive_directly
from transports.websocket import protocol
from transports.websocket.protocol import Bye, GrantMsg, Hello, Ping, Played, ProtocolError
from transports.websocket.send_queue import Outgoing, SendQueue

log = logging.getLogger(__name__)

KIND = "websocket"
SEND_LIMIT_BYTES = 1 << 20
"""Unwritten bytes past which a peer is not reading and its connection is closed."""
SEND_WARN_BYTES = 256 << 10
"""A healthy call never queues this much: a metric and a warning."""
AUDIO_HIGH_WATER_BYTES = 128 << 10
"""Audio waits for the socket past this (4 s of 16 kHz audio). The credit window
keeps a flow-controlled call far below it; only the naive baseline, which has no
window, reaches it, and waits as `await ws.send()` would instead of being closed
as a peer that does not read."""
SEND_STALL_S = 10.0
"""Audio waiting this long with nothing written: the peer is not reading."""
CLEARS_KEPT = 8
"""Turns whose clears are counted; only the live turn's audio is ever waiting."""
ERROR_BUDGET = 20
MAX_FRAME_BYTES = 64 * 1024
"""The largest message the protocol allows; the server reads up to 256 KiB so
that a message past this is refused with a clean 1009."""


class Refused(Exception):
    def __init__(self, code: int, kind: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code = code
        self.kind = kind
        self.detail = detail
        self.extra = extra


class BrowserTransport:
    kind = KIND
    native_audio = ""
    paced = False

    def __init__(
        self, ws: WebSocket, flow: GrantTracker, ctx: GatewayContext, batch_ms: int = FRAME_MS
    ) -> None:
        self.ws = ws
        self.batch_ms = batch_ms
        """As much audio per binary message as the client's hello allowed."""
        self.flow = flow
        self.ctx = ctx
        self.queue = SendQueue(limit_bytes=SEND_LIMIT_BYTES, warn_bytes=SEND_WARN_BYTES)
        self.closed = False
        self.broken = asyncio.Event()
        """Set when the peer stopped reading past the send limit."""
        self._writer: asyncio.Task | None = None
        self._clears: dict[int, int] = {}
        """Clears sent per turn, the latest few turns: audio of a turn that
        waited for the socket across one of its clears is not written."""

    def start(self) -> None:
        self._writer = asyncio.create_task(self._write_loop(), name="ws-writer")

    def _enqueue(self, item: Outgoing) -> None:
        if self.closed:
            return
        if not self.queue.put(item):
            log.warning("peer not reading: %d bytes queued; closing", self.queue.queued_bytes)
            self.broken.set()
            return
        if self.queue.over_warning and not self.queue.warned:
            self.queue.warned = True
            self.ctx.metrics.send_buffer_warnings.labels(KIND).inc()
            log.warning("send buffer past %d bytes on one connection", self.queue.warn_bytes)

    async def _write_loop(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if isinstance(item.data, bytes):
                    await self.ws.send_bytes(item.data)
                else:
                    await self.ws.send_text(item.data)
            except (WebSocketDisconnect, RuntimeError):
                self.closed = True
                self.queue.release()
                return

    async def send_audio(self, chunk: AudioChunk) -> None:
        if self.queue.queued_bytes > AUDIO_HIGH_WATER_BYTES:
            clears = self._clears.get(chunk.turn_id, 0)
            if not await self.queue.until_below(AUDIO_HIGH_WATER_BYTES, SEND_STALL_S):
                log.warning("peer not reading: nothing written for %g s; closing", SEND_STALL_S)
                self.broken.set()
                return
            if self._clears.get(chunk.turn_id, 0) != clears:
                # Its turn was cleared (an interrupt, or a pause for the caller's
                # voice) while this waited: written now, it would follow the clear
                # and play. The pump keeps it for a resume, or drops it.
                return
        self._enqueue(Outgoing(protocol.audio_frame(chunk), chunk.turn_id))

    async def send_mark(self, mark: Mark) -> None:
        """Browser playout is confirmed by `played` acks; no marks on this wire."""

    async def send_clear(self, cleared: Cleared) -> None:
        turn = cleared.turn_id
        self._clears[turn] = self._clears.pop(turn, 0) + 1  # latest last
        if len(self._clears) > CLEARS_KEPT:
            del self._clears[next(iter(self._clears))]
        self.queue.drop_turn(turn)
        self._enqueue(Outgoing(protocol.clear(turn, self.flow.epoch, cleared.heard_ms)))

    def send_event(self, event: CallEvent) -> None:
        self._enqueue(Outgoing(protocol.message(event.type, **_fields(event))))

    def send_text(self, text: str) -> None:
        self._enqueue(Outgoing(text))

    async def close(self, code: int, reason: str) -> None:
        if self.closed:
            return
        self.closed = True
        self.queue.release()
        if self._writer is not None:
            # Let queued control messages (the error that explains the close) go first.
            try:
                async with asyncio.timeout(0.5):  # not wait_for: see gateway/call/outbound.py
                    await self._drain()
            except TimeoutError:
                pass
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self.ws.application_state == WebSocketState.CONNECTED:
            try:
                await self.ws.close(code, reason[:120])
            except (RuntimeError, WebSocketDisconnect):
                pass

    async def _drain(self) -> None:
        while self.queue.queued_bytes and not self._writer.done():
            await asyncio.sleep(0.005)


def _fields(event: CallEvent) -> dict:
    fields = event.to_dict()
    fields.pop("type")
    return fields


class BrowserStream:
    """One browser connection: hello, welcome, then audio and control both ways."""

    def __init__(self, ws: WebSocket, ctx: GatewayContext) -> None:
        self.ws = ws
        self.ctx = ctx
        self.settings = ctx.settings
        self.errors = 0

    def _error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.ctx.metrics.protocol_errors.labels(KIND, kind).inc()
        log.warning("browser protocol error %s: %r", kind, detail)

    async def serve(self) -> None:
        ctx = self.ctx
        assert ctx.hosts is not None and ctx.pending is not None
        origin = self.ws.headers.get("origin")
        if not ctx.hosts.host_allowed(self.ws.headers.get("host")):
            self._error("bad_host", f"host {self.ws.headers.get('host')!r} is not this gateway")
            await self.ws.close(close_codes.POLICY)  # before accept: the client sees HTTP 403
            return
        host = self.ws.headers.get("host", "")
        if not ctx.hosts.origin_allowed(origin, self.settings.browser_origins, host):
            self._error("bad_origin", f"origin {origin!r} not allowed")
            await self.ws.close(close_codes.POLICY)
            return
        try:
            hello = await self._admit()
        except Refused as refused:
            await self._refuse(refused)
            return
        except WebSocketDisconnect:
            return
        assert ctx.slots is not None
        slot = await ctx.slots.take()
        if isinstance(slot, str):
            await self._refuse(
                Refused(
                    close_codes.TRY_LATER,
                    slot,
                    REFUSALS[slot],
                    retry_after_s=self.settings.retry_after_s,
                )
            )
            return
        try:
            await self._run(hello)
        except WebSocketDisconnect:
            pass
        finally:
            await ctx.slots.give(slot)

    async def _admit(self) -> Hello:
        """Accept, then wait for a hello with the token as a pending connection."""
        pending = self.ctx.pending
        assert pending is not None
        ticket = pending.enter(client_address(self.ws))
        try:
            await self.ws.accept()
            timeout = self.settings.browser_hello_timeout_s
            try:
                return await pending.run(ticket, self._await_hello(), timeout)
            except TimeoutError:
                raise Refused(close_codes.POLICY, "no_hello", "expected hello") from None
            except Evicted:
                raise Refused(
                    close_codes.TRY_LATER, "evicted", "too many pending connections; retry",
                    retry_after_s=self.settings.retry_after_s,
                ) from None  # fmt: skip
        finally:
            pending.leave(ticket)

    async def _refuse(self, refused: Refused) -> None:
        self._error(refused.kind, refused.detail)
        try:
            await self.ws.send_text(
                protocol.error(refused.kind, refused.detail, True, **refused.extra)
            )
            await self.ws.close(refused.code, refused.detail)
        except (WebSocketDisconnect, RuntimeError):
            pass

    async def _await_hello(self) -> Hello:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(close_codes.NORMAL)
        text = message.get("text")
        if text is None:
            raise Refused(close_codes.POLICY, "no_hello", "the first message must be a hello")
        try:
            hello = protocol.parse_text(text)
        except ProtocolError as exc:
            raise Refused(close_codes.POLICY, exc.kind, exc.detail) from None
        if not isinstance(hello, Hello):
            raise Refused(close_codes.POLICY, "no_hello", "the first message must be a hello")
        if not token_matches(hello.token, self.settings.browser_token):
            raise Refused(close_codes.POLICY, "bad_token", "missing or wrong access token")
        return hello

    async def _run(self, hello: Hello) -> None:
        s = self.settings
        window_ms = min(max(hello.window_ms, s.browser_window_min_ms), s.browser_window_max_ms)
        flow = GrantTracker(CreditWindow(s.window_ms(window_ms)), self.ctx.clock)
        transport = BrowserTransport(self.ws, flow, self.ctx, hello.audio_ms)
        call_id = self.ctx.next_call_id("ws")
        transport.send_text(protocol.welcome(call_id, window_ms, flow.epoch, hello.audio_ms))
        transport.start()
        log.info("browser call %s: window %d ms via %r", call_id, window_ms, hello.client_transport)
        await run_call(
            self.ctx, call_id, transport, flow, lambda call: self._receive(call, transport)
        )

    async def _receive(self, call: Call, transport: BrowserTransport) -> Ending:
        # Two waiters for the whole call, not two per message: a frame's
        # receive is the hottest path on this wire.
        direct = direct_of(self.ws)
        handle: Handler = partial(self._handle, call, transport)
        reading = asyncio.ensure_future(
            receive_directly(self.ws, direct, handle) if direct else self._read(handle)
        )
        broken = asyncio.ensure_future(transport.broken.wait())
        try:
            done, _ = await asyncio.wait({reading, broken}, return_when=asyncio.FIRST_COMPLETED)
            if reading in done:
                return reading.result()
            return close_codes.POLICY, "peer not reading"
        finally:
            for task in (reading, broken):
                task.cancel()
            await asyncio.gather(reading, broken, return_exceptions=True)

    async def _read(self, handle: Handler) -> Ending:
        """Each message through ASGI: under a server without the hand-over."""
        while True:
            message = await self.ws.receive()
            if message["type"] == "websocket.disconnect":
                return close_codes.NORMAL, close_codes.disconnect_reason(message.get("code"))
            outcome = handle(asgi_data(message))
            if outcome is not None:
                return outcome

    def _handle(
        self, call: Call, transport: BrowserTransport, message: str | bytes
    ) -> Ending | None:
        try:
            if isinstance(message, bytes):
                data = message
                if len(data) > MAX_FRAME_BYTES:
                    # Read whole, then refused: a close sent while the peer's
                    # frame was still unread would reach it as a reset, not 1009.
                    self._error("oversized", f"a binary frame of {len(data)} bytes")
                    return close_codes.TOO_BIG, "oversized message"
                call.hear(CallerAudio(protocol.check_audio(data)))
                return None
            event = protocol.parse_text(message)
            match event:
                case GrantMsg(ms=ms, epoch=epoch):
                    call.confirm(RoomGranted(ms, epoch))
                case Played(turn=turn, position_ms=position):
                    if not call.confirm(PlayedTo(turn, position)):
                        detail = f"turn {turn} was never sent up to {position} ms"
                        self._error("bad_played", detail)
                        transport.send_text(protocol.error("bad_played", detail))
                case Ping(t=t):
                    transport.send_text(protocol.message("pong", t=t))
                case Bye():
                    return close_codes.NORMAL, "caller hung up"
                case Hello():
                    self._error("out_of_order", "hello after the call started")
        except ProtocolError as exc:
            self._error(exc.kind, exc.detail)
            transport.send_text(protocol.error(exc.kind, exc.detail))
        except BadGrant as exc:
            self._error("bad_grant", str(exc))
            transport.send_text(protocol.error("bad_grant", str(exc)))
        if self.errors >= ERROR_BUDGET:
            return close_codes.POLICY, "too many protocol errors"
        return None
