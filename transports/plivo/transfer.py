"""Plivo transfers a call only to a URL that answers with XML: this is that
URL. It answers Plivo's signed request with `<Dial>` to the destination the
transfer named, checked again against `transfer_allow`, so that nobody but
the account's own transfer can make it dial, and only where it may."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from fastapi import APIRouter, Request, Response

from gateway.runtime.context import GatewayContext
from gateway.wire import parse_allow, transfer_allowed
from transports.media_stream.answer import checked_request

if TYPE_CHECKING:
    from transports.media_stream.carrier import Carrier

log = logging.getLogger(__name__)


def mount_transfer(api: APIRouter, carrier: Carrier) -> None:
    answer = carrier.answer
    assert answer is not None

    async def dial(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        checked = await checked_request(request, ctx, carrier, answer)
        if isinstance(checked, Response):
            return checked
        to = request.query_params.get("to", "")
        if not transfer_allowed(to, parse_allow(ctx.settings.transfer_allow)):
            ctx.metrics.protocol_errors.labels("plivo", "malformed").inc()
            log.warning("plivo transfer refused: %r is not in transfer_allow", to[:40])
            return Response("not an allowed destination", status_code=403)
        tag = "User" if to.startswith("sip:") else "Number"
        xml = f"<Response><Dial><{tag}>{escape(to)}</{tag}></Dial></Response>"
        return Response(xml, media_type="application/xml")

    api.add_api_route("/plivo/transfer", dial, methods=["POST", "GET"])
