"""POST /calls: place an outbound call through a carrier's REST API.

The carrier is asked for a call whose answer comes back to Sluice's own
answer endpoint with a one-time token, and status and answering-machine
callbacks to Sluice's signed callback routes; the call's id is returned at
once. The same operator token as GET /calls guards it. At most
`outbound_max_pending` calls wait to be answered (429 beyond); an answered
one takes a slot as an inbound call does, and the busy answer without one.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.access.http_limits import BodyRefused, parse_json_object, read_body
from gateway.runtime.context import GatewayContext
from gateway.runtime.plugins import BUILT_IN, PluginError
from gateway.server.records_api import operator_refused
from gateway.wire import ControlFailed
from transports.media_stream.outbound import outbound_calls
from transports.media_stream.rest import CallRequest
from transports.packages import carrier_named

log = logging.getLogger(__name__)

MAX_BODY = 16 * 1024
MAX_GREETING_CHARS = 500
MAX_METADATA = 16
NUMBER = re.compile(r"^(\+?[0-9]{3,20}|sip:[\w.+@:;=-]{3,120})$")
VOICES = ("cascade", "openai-realtime", "gemini-live")


class BadCall(ValueError):
    pass


def _text(body: dict[str, Any], key: str, limit: int, required: bool = False) -> str:
    value = body.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or len(value) > limit:
        raise BadCall(f"`{key}` must be a string of 1 to {limit} characters")
    return value.strip()


def _number(body: dict[str, Any], key: str) -> str:
    value = re.sub(r"[\s().-]", "", _text(body, key, 64, required=True))
    if not NUMBER.match(value):
        raise BadCall(f"`{key}` must be a phone number (+15551230000) or a sip: address")
    return value


def _metadata(body: dict[str, Any]) -> dict[str, str]:
    value = body.get("metadata") or {}
    if not isinstance(value, dict) or len(value) > MAX_METADATA:
        raise BadCall(f"`metadata` must be an object of at most {MAX_METADATA} strings")
    if not all(isinstance(k, str) and isinstance(v, str) and len(k) <= 64 and len(v) <= 256
               for k, v in value.items()):  # fmt: skip
        raise BadCall("`metadata` keys (64) and values (256 characters) must be strings")
    return dict(value)


def _voice_and_agent(ctx: GatewayContext, body: dict[str, Any]) -> tuple[str, str]:
    voice, agent = _text(body, "voice", 40), _text(body, "agent", 200)
    settings = ctx.settings
    if voice and voice not in VOICES:
        raise BadCall(f"`voice` must be one of {', '.join(VOICES)}")
    if voice == "cascade" and ctx.services.stt is None:
        raise BadCall("this gateway loaded no recogniser: the cascade voice is not available")
    if voice == "openai-realtime" and not settings.openai_api_key:
        raise BadCall("voice openai-realtime needs openai_api_key set on the gateway")
    if voice == "gemini-live" and not settings.gemini_api_key:
        raise BadCall("voice gemini-live needs gemini_api_key set on the gateway")
    if agent:
        if agent in BUILT_IN or ":" not in agent:
            raise BadCall("`agent` names a plug-in, module:factory")
        try:
            ctx.services.agent_factory(agent)
        except PluginError as exc:
            raise BadCall(str(exc)) from None
    return voice, agent


def router() -> APIRouter:
    api = APIRouter()

    @api.post("/calls")
    async def place_call(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := operator_refused(ctx, request)) is not None:
            return refused
        settings = ctx.settings
        try:
            body = parse_json_object(await read_body(request, MAX_BODY))
            to, from_ = _number(body, "to"), _number(body, "from")
            name = _text(body, "carrier", 20) or "twilio"
            greeting = _text(body, "greeting", MAX_GREETING_CHARS) or None
            metadata = _metadata(body)
            voice, agent = _voice_and_agent(ctx, body)
        except BodyRefused as refused_body:
            return JSONResponse({"error": refused_body.kind, "detail": refused_body.detail},
                                status_code=refused_body.status)  # fmt: skip
        except BadCall as bad:
            return JSONResponse({"error": "bad_request", "detail": str(bad)}, status_code=400)
        carrier = carrier_named(settings, name)
        api_client = carrier.rest(ctx) if carrier is not None else None
        if carrier is None or api_client is None:
            detail = (
                f"carrier {name!r} is not served (carriers = {settings.carriers!r})"
                if carrier is None
                else f"carrier {name!r} has no REST credentials: see docs/guides/outbound-calls.md"
            )
            return JSONResponse({"error": "no_carrier", "detail": detail}, status_code=400)
        if not settings.public_url:
            return JSONResponse(
                {"error": "no_public_url",
                 "detail": "set public_url: the carrier must reach this gateway's answer URL"},
                status_code=400,
            )  # fmt: skip
        if settings.workers > 1 or ctx.cluster is not None:
            return JSONResponse(
                {"error": "unsupported",
                 "detail": "outbound calls need one worker and no cluster, in this version"},
                status_code=501,
            )  # fmt: skip
        calls = outbound_calls(ctx)
        placed = calls.reserve(
            name, to, from_, greeting=greeting, agent=agent, voice=voice, metadata=metadata
        )
        if placed is None:
            ctx.metrics.outbound_calls.labels(name, "refused").inc()
            return JSONResponse(
                {"error": "too_many_pending",
                 "detail": f"{settings.outbound_max_pending} outbound calls are ringing"},
                status_code=429, headers={"Retry-After": "5"},
            )  # fmt: skip
        base = settings.public_url.rstrip("/")
        amd = settings.outbound_voicemail != "off"
        request_ = CallRequest(
            to, from_,
            answer_url=f"{base}/{name}/voice?outbound={placed.token}",
            status_url=f"{base}/{name}/status?outbound={placed.id}",
            amd_url=f"{base}/{name}/amd?outbound={placed.id}" if amd else "",
        )  # fmt: skip
        ctx.metrics.outbound_calls.labels(name, "requested").inc()
        try:
            carrier_call_id = await api_client.create_call(request_)
        except ControlFailed as failed:
            placed.error = str(failed)
            calls.add_state(placed, "failed")
            ctx.metrics.outbound_calls.labels(name, "failed").inc()
            return JSONResponse({"error": "carrier_error", "detail": str(failed), "id": placed.id},
                                status_code=502)  # fmt: skip
        if carrier_call_id and not placed.carrier_call_id:
            placed.carrier_call_id = carrier_call_id
        if placed.state == "requested":
            calls.add_state(placed, "queued")
        log.info("outbound call %s to %s placed with %s", placed.id, to[:4] + "…", name)
        return JSONResponse(
            {"call_id": placed.id, "carrier_call_id": placed.carrier_call_id,
             "state": placed.state},
            status_code=201,
        )  # fmt: skip

    return api
