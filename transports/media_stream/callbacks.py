"""What a carrier reports of an outbound call beside its media: status
callbacks (`/{name}/status`) and answering-machine detection (`/{name}/amd`),
both signed and checked as the answer request is. A verdict goes to the live
call, or waits on the record for its stream to begin."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from gateway.runtime.context import GatewayContext
from transports.media_stream.answer import checked_request
from transports.media_stream.outbound import OutboundCall, outbound_calls, state_of

if TYPE_CHECKING:
    from transports.media_stream.carrier import Carrier

log = logging.getLogger(__name__)


def verdict(params: dict[str, str]) -> tuple[str, bool] | None:
    """("human" | "machine", whether it came at the end of the machine's
    greeting), from Twilio's and Telnyx's AnsweredBy or Plivo's Machine."""
    answered_by = params.get("AnsweredBy", "").lower()
    if answered_by:
        machine = answered_by.startswith("machine") or answered_by == "fax"
        return ("machine" if machine else "human"), answered_by.startswith("machine_end")
    machine_flag = params.get("Machine")
    if machine_flag is not None:
        return ("machine" if machine_flag.lower() == "true" else "human"), False
    status = params.get("status", "")  # Vonage: an event on its one event URL
    if status in ("machine", "human"):
        return status, params.get("sub_state") == "beep_start"
    return None


def apply_verdict(ctx: GatewayContext, placed: OutboundCall) -> None:
    """Tell the live call who answered; before its stream began, the record keeps it."""
    call = ctx.calls.get(placed.call_id) if placed.call_id else None
    if call is not None:
        call.answered_by(placed.answered_by == "machine", placed.end_of_greeting)


def mount_callbacks(api: APIRouter, carrier: Carrier) -> None:
    assert carrier.answer is not None
    answer = carrier.answer

    async def placed_call(request: Request) -> tuple[GatewayContext, dict, OutboundCall] | Response:
        ctx: GatewayContext = request.app.state.ctx
        checked = await checked_request(request, ctx, carrier, answer)
        if isinstance(checked, Response):
            return checked
        params, _ = checked
        placed = outbound_calls(ctx).get(request.query_params.get("outbound", "")[:64])
        if placed is None or placed.carrier != carrier.name:
            ctx.metrics.protocol_errors.labels(carrier.name, "unknown_session").inc()
            return Response("unknown call", status_code=404)
        carrier_call_id = params.get(answer.call_id, "")
        if placed.carrier_call_id and carrier_call_id and carrier_call_id != placed.carrier_call_id:
            ctx.metrics.protocol_errors.labels(carrier.name, "unknown_session").inc()
            return Response("another call", status_code=409)
        return ctx, params, placed

    async def status(request: Request) -> Response:
        found = await placed_call(request)
        if isinstance(found, Response):
            return found
        ctx, params, placed = found
        if params.get("status") in ("machine", "human"):
            return take_verdict(ctx, params, placed)  # Vonage: verdicts come as events
        state = state_of(params.get("CallStatus") or params.get("status", ""))
        if state:
            if not placed.carrier_call_id:
                placed.carrier_call_id = params.get(answer.call_id, "")[:128]
            outbound_calls(ctx).add_state(placed, state)
            ctx.metrics.outbound_calls.labels(carrier.name, state).inc()
            log.info("outbound call %s: %s", placed.id, state)
        return Response(status_code=204)

    async def detected(request: Request) -> Response:
        found = await placed_call(request)
        if isinstance(found, Response):
            return found
        return take_verdict(*found)

    def take_verdict(ctx: GatewayContext, params: dict, placed: OutboundCall) -> Response:
        seen = verdict(params)
        if seen is None:
            ctx.metrics.protocol_errors.labels(carrier.name, "malformed").inc()
            return Response("no verdict", status_code=400)
        if placed.answered_by:
            return Response(status_code=204)  # the first verdict stands
        placed.answered_by, placed.end_of_greeting = seen
        ctx.metrics.outbound_calls.labels(carrier.name, placed.answered_by).inc()
        log.info("outbound call %s answered by a %s", placed.id, placed.answered_by)
        apply_verdict(ctx, placed)
        return Response(status_code=204)

    methods = list(answer.methods)
    api.add_api_route(f"/{carrier.name}/status", status, methods=methods)
    api.add_api_route(f"/{carrier.name}/amd", detected, methods=methods)
