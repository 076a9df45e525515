"""One carrier media stream, from its first message to its end: admission with
a start deadline, the stream token, the slot, and the receive loop with its
error budget and close codes. What the messages look like is the carrier's
dialect; what they mean for the call is the flow core's.
"""

from __future__ import annotations

import logging
from functools import partial
from typing import TYPE_CHECKING

from starlette.websockets import WebSocket, WebSocketDisconnect

from gateway.access.admission import Evicted
from gateway.access.slots import REFUSALS
from gateway.audio.wire_format import InboundAudio
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.flow.credit import CreditWindow
from gateway.flow.marks import MarkTracker
from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from gateway.wire import Aliases, Call, PointReached
from transports import close_codes
from transports.call_runner import CallDetails, client_address, run_call
from transports.direct import Ending, asgi_data, direct_of, receive_directly
from transports.errors import ProtocolError
from transports.media_stream.events import (
    Audio,
    Dialect,
    Digit,
    Noted,
    Outgoing,
    Played,
    Started,
    Stopped,
    Watermark,
)
from transports.media_stream.outbound import OutboundCall, outbound_calls
from transports.media_stream.rest import StreamControl
from transports.media_stream.tokens import TOKEN_PARAMETER, redeem_token
from transports.media_stream.transport import StreamTransport

if TYPE_CHECKING:
    from transports.media_stream.carrier import Carrier

log = logging.getLogger(__name__)

ERROR_BUDGET = 20
"""Recoverable protocol errors tolerated on one stream before it is closed."""

CLOSE_FOR_KIND = {
    "oversized": close_codes.TOO_BIG,
    "binary_frame": close_codes.UNSUPPORTED,
    "text_frame": close_codes.UNSUPPORTED,
}
"""Errors no stream survives: a wire that sends the wrong kind of frame, or a
message far larger than any carrier sends, is not that carrier."""


def details_of(
    carrier: str, start: Started, placed: OutboundCall | None = None, can_transfer: bool = False
) -> CallDetails:
    """The call as its agent sees it: the numbers the answer passed along as
    parameters, and every parameter but the stream token. On a call Sluice
    placed, the caller is the person called, and its metadata joins them."""
    params = {k: v for k, v in start.parameters.items() if k != TOKEN_PARAMETER}
    if placed is not None:
        params = {**params, **placed.metadata, "direction": "outbound"}
        return CallDetails(carrier, placed.to, placed.from_, params, can_transfer)
    return CallDetails(carrier, params.get("from", ""), params.get("to", ""), params, can_transfer)


def placed_settings(ctx: GatewayContext, placed: OutboundCall | None) -> Settings | None:
    """An outbound call's own agent or voice, where `POST /calls` chose one."""
    if placed is None or not (placed.agent or placed.voice):
        return None
    chosen = {"agent": placed.agent} if placed.agent else {}
    if placed.voice:
        chosen["voice"] = placed.voice
    return ctx.settings.model_copy(update=chosen)


class StreamRefused(Exception):
    def __init__(self, code: int, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.kind = kind
        self.reason = reason


class MediaStream:
    def __init__(self, ws: WebSocket, ctx: GatewayContext, carrier: Carrier) -> None:
        self.ws = ws
        self.ctx = ctx
        self.carrier = carrier
        self.kind = carrier.name
        self.dialect: Dialect = carrier.dialect(ctx.settings)
        self.errors = 0
        self.call: Call | None = None
        self.transport: StreamTransport | None = None
        self.disconnect_code: int | None = None
        self.placed: OutboundCall | None = None

    def _error(self, kind: str, detail: str) -> None:
        self.errors += 1
        self.ctx.metrics.protocol_errors.labels(self.kind, kind).inc()
        log.warning("%s protocol error %s: %r", self.kind, kind, detail)

    async def _receive(self) -> Outgoing | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.disconnect_code = message.get("code")
            return None
        return asgi_data(message)

    async def _await_start(self) -> Started:
        while True:
            message = await self._receive()
            if message is None:
                raise WebSocketDisconnect(close_codes.NORMAL)
            try:
                event = self.dialect.parse(message)
            except ProtocolError as exc:
                # Before the start nothing is a glitch of a live call: a stream
                # that cannot begin properly is not the carrier, and is closed at once.
                code = CLOSE_FOR_KIND.get(exc.kind, close_codes.POLICY)
                raise StreamRefused(code, exc.kind, exc.detail) from None
            if isinstance(event, Started):
                return event
            if not isinstance(event, Noted):
                raise StreamRefused(
                    close_codes.POLICY,
                    "out_of_order",
                    f"{type(event).__name__.lower()} before start",
                )

    async def _check_token(self, start: Started) -> tuple[str, ...]:
        """Admits the stream or raises; returns the aliases its record may claim."""
        carrier = self.carrier
        if carrier.url_token:
            return ()  # checked before the WebSocket was accepted (see routes)
        secret = getattr(self.ctx.settings, carrier.secret)
        if start.token is None:
            if secret:
                raise StreamRefused(close_codes.POLICY, "bad_token", "missing stream token")
            return ()  # development mode: no secret configured, no answer request required
        try:
            redeemed = await redeem_token(
                self.ctx, carrier.token_scope, start.token, start.call_id,
                carrier.setting(self.ctx.settings, "token_ttl_s"),
            )  # fmt: skip
        except ClusterUnavailable:
            raise StreamRefused(
                close_codes.TRY_LATER, "cluster_unavailable", REFUSALS["cluster_unavailable"]
            ) from None
        if redeemed is None:
            raise StreamRefused(close_codes.POLICY, "bad_token", "unknown or expired stream token")
        if redeemed.call_sid and start.call_id != redeemed.call_sid:
            raise StreamRefused(
                close_codes.POLICY, "bad_token", "the token was issued for another call"
            )
        if redeemed.call_sid and self.ctx.records.live(redeemed.call_sid):
            # One stream per call: a second one would take the first one's record.
            raise StreamRefused(close_codes.POLICY, "bad_token", "the call already has a stream")
        return (redeemed.call_sid,) if redeemed.call_sid else ()

    async def _admit(self) -> tuple[Started, tuple[str, ...]]:
        """Accept, then wait for a valid start as a pending connection: no
        slot, no model, no task but this one until the stream shows its token."""
        ctx = self.ctx
        assert ctx.pending is not None
        ticket = ctx.pending.enter(client_address(self.ws))
        try:
            await self.ws.accept()
            timeout = self.carrier.setting(ctx.settings, "start_timeout_s")
            try:
                start = await ctx.pending.run(ticket, self._await_start(), timeout)
            except TimeoutError:
                raise StreamRefused(
                    close_codes.POLICY, "start_timeout", f"no start within {timeout:g} s"
                ) from None
            except Evicted:
                raise StreamRefused(
                    close_codes.TRY_LATER, "evicted", "too many pending connections; retry"
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
            await self._refuse(StreamRefused(close_codes.TRY_LATER, slot, REFUSALS[slot]))
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

    async def _run_call(self, start: Started, trusted: tuple[str, ...]) -> None:
        ctx, carrier = self.ctx, self.carrier
        chunking = carrier.chunking(start)
        self.transport = StreamTransport(
            self.ws, self.kind, self.dialect, start.wire, chunking, stream_id=start.stream_id
        )
        window_ms = ctx.settings.window_ms(carrier.setting(ctx.settings, "window_ms"))
        window = CreditWindow(min(window_ms, carrier.buffer_ms or window_ms))
        interval = chunking.mark_interval_ms(
            carrier.setting(ctx.settings, "mark_interval_ms"), start.wire
        )
        flow = MarkTracker(window, ctx.clock, interval)
        log.info("%s stream %r started for call %r", self.kind, start.stream_id, start.call_id)
        api = carrier.rest(ctx)
        control = StreamControl(api, start.call_id) if api is not None else None
        self.transport.control = control
        call_id = ctx.next_call_id(carrier.call_prefix or carrier.name)
        placed = None
        if outbound := start.parameters.get("outbound"):
            # Bound only for the carrier's call the outbound call was placed as,
            # which the stream token (issued to its signed answer) vouches for.
            if trusted:
                placed = outbound_calls(ctx).bind(outbound, start.call_id, call_id)
            else:
                log.warning("%s: an outbound call's stream without a signed answer is "
                            "served as an inbound call; set %s", self.kind,
                            carrier.secret)  # fmt: skip
        self.placed = placed
        claims = (start.call_id, start.stream_id)
        await run_call(
            ctx,
            call_id,
            self.transport,
            flow,
            lambda call: self._receive_loop(call, InboundAudio(start.wire)),
            self._bind,
            aliases=Aliases(
                trusted=trusted + ((placed.id,) if placed else ()),
                claimed=tuple(a for a in claims if a and a not in trusted),
            ),
            details=details_of(
                carrier.name, start, placed, control is not None and control.can_transfer
            ),
            settings=placed_settings(ctx, placed),
        )

    def _bind(self, call: Call) -> None:
        self.call = call
        placed = self.placed
        if placed is None:
            return
        if placed.greeting is not None:
            call.core.greeting = placed.greeting
        call.screen()
        if placed.answered_by:  # the verdict came before the stream
            call.answered_by(placed.answered_by == "machine", placed.end_of_greeting)

    async def _receive_loop(self, call: Call, inbound: InboundAudio) -> tuple[int, str]:
        direct = direct_of(self.ws)
        if direct is None:  # another ASGI server: every message through ASGI
            return await self._receive_each(call, inbound)
        return await receive_directly(self.ws, direct, partial(self._handle, call, inbound))

    async def _receive_each(self, call: Call, inbound: InboundAudio) -> tuple[int, str]:
        while True:
            try:
                message = await self._receive()
            except WebSocketDisconnect as gone:
                return close_codes.NORMAL, close_codes.disconnect_reason(gone.code)
            if message is None:
                return close_codes.NORMAL, close_codes.disconnect_reason(self.disconnect_code)
            outcome = self._handle(call, inbound, message)
            if outcome is not None:
                return outcome

    def _handle(self, call: Call, inbound: InboundAudio, message: Outgoing) -> Ending | None:
        """One message of a running stream; how the stream ends, if it does."""
        assert self.transport is not None
        try:
            event = self.dialect.parse(message)
        except ProtocolError as exc:
            self._error(exc.kind, exc.detail)
            if exc.kind in CLOSE_FOR_KIND:
                return CLOSE_FOR_KIND[exc.kind], exc.detail[:100]
            if self.errors >= ERROR_BUDGET:
                return close_codes.POLICY, "too many protocol errors"
            return None
        if isinstance(event, Audio):
            for audio in inbound.audio(event.payload):
                call.hear(audio)
        elif isinstance(event, Played):
            if not call.confirm(PointReached(event.name)):
                self._error("unknown_mark", event.name[:60])
        elif isinstance(event, Watermark):
            self.transport.watermark(event.full)
        elif isinstance(event, Digit):
            call.on_dtmf(event.digit)
        elif isinstance(event, Stopped):
            return close_codes.NORMAL, "stream stopped"
        elif isinstance(event, Noted):
            if event.what.startswith("error"):
                log.warning("%s reports %s", self.kind, event.what)
        else:
            self._error("unexpected", f"{type(event).__name__} after start")
        if self.errors >= ERROR_BUDGET:
            return close_codes.POLICY, "too many protocol errors"
        return None
