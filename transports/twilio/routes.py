"""Twilio's routes: the voice webhook and the Media Streams socket."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request, Response, WebSocket

from gateway.access.http_limits import BodyRefused, read_form
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.runtime.context import GatewayContext
from transports.twilio import webhook
from transports.twilio.media import TwilioStream

log = logging.getLogger(__name__)

VOICE_PATH = "/twilio/voice"
MEDIA_PATH = "/twilio/media"
MAX_WEBHOOK_BYTES = 64 * 1024
"""Twilio's voice webhook form is a few kilobytes of parameters."""

_REJECT_BUSY = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'
_REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'


def _from_a_browser(ctx: GatewayContext, origin: str | None) -> bool:
    """Twilio sends no Origin; a browser page does. WebSockets escape CORS, so
    without this any page a developer visits could place calls in dev mode."""
    if origin is None:
        return False
    ctx.metrics.protocol_errors.labels("twilio", "bad_origin").inc()
    log.warning("twilio route refused: a browser Origin %r", origin)
    return True


def router() -> APIRouter:
    api = APIRouter()

    @api.post(VOICE_PATH)
    async def twilio_voice(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        settings = ctx.settings
        if _from_a_browser(ctx, request.headers.get("origin")):
            return Response("not for browsers", status_code=403)
        try:
            params = await read_form(request, MAX_WEBHOOK_BYTES)
        except BodyRefused as refused:
            ctx.metrics.protocol_errors.labels("twilio", refused.kind).inc()
            log.warning("webhook refused: %s", refused.detail)
            return Response(refused.detail, status_code=refused.status)
        try:
            url = webhook.public_url(
                str(request.url),
                request.headers.get("x-forwarded-proto"),
                request.headers.get("x-forwarded-host"),
                settings.public_url,
            )
        except ValueError:
            ctx.metrics.protocol_errors.labels("twilio", "malformed").inc()
            return Response("bad forwarded host", status_code=400)
        if settings.twilio_auth_token:
            signature = request.headers.get("x-twilio-signature", "")
            if not webhook.signature_valid(settings.twilio_auth_token, url, params, signature):
                ctx.metrics.protocol_errors.labels("twilio", "bad_signature").inc()
                log.warning("webhook refused: bad or missing X-Twilio-Signature for %r", url)
                return Response("invalid signature", status_code=403)
        assert ctx.slots is not None
        if (room := await ctx.slots.room()) != "ok":
            log.warning("webhook answered busy: %s", room)
            return Response(_REJECT_BUSY, media_type="application/xml")
        call_sid = params.get("CallSid", "")
        try:
            token = await webhook.issue_token(ctx, call_sid)
        except ClusterUnavailable:
            log.warning("webhook answered busy: the cluster's Redis is unreachable")
            return Response(_REJECT_BUSY, media_type="application/xml")
        if token is None:
            # The stream for this CallSid already started: a replayed webhook.
            ctx.metrics.protocol_errors.labels("twilio", "replayed_webhook").inc()
            log.warning("webhook for call %r answered again after its stream began", call_sid)
            return Response(_REJECT, media_type="application/xml")
        stream_url = webhook.media_stream_url(url, MEDIA_PATH)
        twiml = webhook.stream_twiml(stream_url, token, {"call_sid": call_sid})
        return Response(twiml, media_type="application/xml")

    @api.websocket(MEDIA_PATH)
    async def twilio_media(ws: WebSocket) -> None:
        ctx: GatewayContext = ws.app.state.ctx
        if _from_a_browser(ctx, ws.headers.get("origin")):
            await ws.close(1008)  # before accept: HTTP 403
            return
        await TwilioStream(ws, ctx).serve()

    return api
