"""A carrier, as the shared media-stream layer sees it, and the routes it gets.

Every carrier has the same endpoint shape: its answer markup at
`/{name}/voice` (POST, and GET where the carrier fetches its answer URL that
way) and its media stream at `/{name}/media`. Carriers that dial a URL set up
ahead of time (Exotel, Asterisk) have no answer endpoint and prove themselves
with `?token=` on the media URL, checked before the WebSocket is accepted.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, WebSocket

from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from transports.media_stream.answer import Answer, from_a_browser, mount
from transports.media_stream.callbacks import mount_callbacks
from transports.media_stream.events import Chunking, Dialect, Started
from transports.media_stream.rest import CarrierApi
from transports.media_stream.stream import MediaStream
from transports.packages import TransportPackage

log = logging.getLogger(__name__)


def _any_size(start: Started) -> Chunking:
    return Chunking()


@dataclass(frozen=True)
class Carrier:
    name: str
    """Its transport label in metrics and records, and its path prefix."""
    dialect: Callable[[Settings], Dialect]
    secret: str
    """The setting that authenticates it: a signing key, or the URL token."""
    answer: Answer | None = None
    """Its `/{name}/voice` endpoint; None where the carrier dials a fixed URL."""
    url_token: bool = False
    chunking: Callable[[Started], Chunking] = _any_size
    """The message sizes it takes, for the stream that started."""
    buffer_ms: int | None = None
    """The far end's own buffer, where it drops audio past a fixed depth
    (Asterisk: 1,000 frames): no window, not even the naive baseline's, may
    exceed it."""
    settings_prefix: str = "carrier"
    """Where its window, mark interval, token life and start deadline are set."""
    token_scope: str = ""
    call_prefix: str = ""
    """Call ids on this carrier start with it ("tw-…"); the name if empty."""
    api: Callable[[GatewayContext], CarrierApi | None] | None = None
    """Its REST API for call control, or None without one or its credentials."""
    routes: Callable[[APIRouter, Carrier], None] | None = None
    """Routes of its own beside the shared ones (Plivo's transfer answer)."""

    def rest(self, ctx: GatewayContext) -> CarrierApi | None:
        return self.api(ctx) if self.api is not None else None

    def setting(self, settings: Settings, name: str) -> Any:
        return getattr(settings, f"{self.settings_prefix}_{name}")

    @property
    def voice_path(self) -> str:
        return f"/{self.name}/voice"

    @property
    def media_path(self) -> str:
        return f"/{self.name}/media"

    def package(self) -> TransportPackage:
        return TransportPackage(self.name, lambda: media_router(self), secret=self.secret)


def url_token_valid(ctx: GatewayContext, carrier: Carrier, ws: WebSocket) -> bool:
    """A fixed media URL's `?token=`: right, or no token configured (development)."""
    expected: str = getattr(ctx.settings, carrier.secret)
    if not expected:
        return True
    given = ws.query_params.get("token", "")
    return hmac.compare_digest(given.encode(), expected.encode())


def media_router(carrier: Carrier) -> APIRouter:
    api = APIRouter()

    @api.websocket(carrier.media_path)
    async def media(ws: WebSocket) -> None:
        ctx: GatewayContext = ws.app.state.ctx
        if from_a_browser(ctx, carrier.name, ws.headers.get("origin")):
            await ws.close(1008)  # before accept: HTTP 403
            return
        if carrier.url_token and not url_token_valid(ctx, carrier, ws):
            ctx.metrics.protocol_errors.labels(carrier.name, "bad_token").inc()
            log.warning("%s media refused: wrong or missing ?token=", carrier.name)
            await ws.close(1008)  # before accept: nothing is spent on it
            return
        await MediaStream(ws, ctx, carrier).serve()

    if carrier.answer is not None:
        mount(api, carrier, carrier.answer)
        if carrier.api is not None:
            mount_callbacks(api, carrier)
    if carrier.routes is not None:
        carrier.routes(api, carrier)
    return api
