"""WebRTC signalling: WHIP-style (SDP in, SDP out, a resource to DELETE) and a
JSON offer endpoint for the page. Non-trickle ICE: the answer carries every
candidate, so one round trip sets up the call."""

from __future__ import annotations

import asyncio
import logging
import secrets

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.context import GatewayContext
from transports.webrtc.session import KIND, OfferRejected, WebRtcSession

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
WHIP_PATH = "/webrtc/whip"


def _problem(ctx: GatewayContext, status: int, kind: str, detail: str) -> JSONResponse:
    ctx.metrics.protocol_errors.labels(KIND, kind).inc()
    log.warning("webrtc signalling refused (%s): %s", kind, detail)
    headers = {"Retry-After": str(ctx.settings.retry_after_s)} if status == 503 else None
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


async def _start(ctx: GatewayContext, sdp: str) -> WebRtcSession | JSONResponse:
    if len(sdp.encode()) > MAX_SDP_BYTES:
        return _problem(ctx, 413, "oversized", f"an offer of {len(sdp)} bytes")
    if not ctx.take_slot():
        return _problem(ctx, 503, "full", "gateway full; retry later")
    # The id names the worker, so that any worker can route a hang-up to it.
    session_id = f"rtc{ctx.worker_index}-{ctx.next_call_id('c')}-{secrets.token_hex(4)}"
    session = WebRtcSession(session_id, ctx)
    try:
        await session.answer(sdp)
    except OfferRejected as exc:
        ctx.give_slot()
        await session.close()
        return _problem(ctx, 400, "bad_offer", str(exc))
    ctx.webrtc_sessions[session.id] = session

    async def lifetime() -> None:
        try:
            await session.run()
        finally:
            ctx.webrtc_sessions.pop(session.id, None)
            ctx.give_slot()

    session.task = asyncio.create_task(lifetime(), name=f"{session.id}:session")
    return session


FORWARDED = "x-sluice-forwarded"


def _owner(session_id: str) -> int | None:
    head = session_id.split("-", 1)[0]
    return int(head[3:]) if head.startswith("rtc") and head[3:].isdigit() else None


async def _forward_delete(port: int, session_id: str) -> Response:
    async with httpx.AsyncClient(timeout=5) as http:
        response = await http.delete(
            f"http://127.0.0.1:{port}{WHIP_PATH}/{session_id}", headers={FORWARDED: "1"}
        )
    return Response(response.content, status_code=response.status_code,
                    media_type=response.headers.get("content-type"))  # fmt: skip


def router() -> APIRouter:
    api = APIRouter()

    @api.post(WHIP_PATH)
    async def whip_offer(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if not request.headers.get("content-type", "").startswith("application/sdp"):
            return _problem(ctx, 415, "bad_offer", "WHIP offers are application/sdp")
        body = await request.body()
        try:
            sdp = body.decode()
        except UnicodeDecodeError:
            return _problem(ctx, 400, "bad_offer", "the offer is not UTF-8")
        started = await _start(ctx, sdp)
        if isinstance(started, JSONResponse):
            return started
        return Response(
            started.pc.localDescription.sdp,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": f"{WHIP_PATH}/{started.id}"},
        )

    @api.delete(WHIP_PATH + "/{session_id}")
    async def whip_hangup(session_id: str, request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        session = ctx.webrtc_sessions.get(session_id)
        if session is None:
            owner = _owner(session_id)
            if owner is not None and owner != ctx.worker_index and owner < len(ctx.worker_ports):
                if not request.headers.get(FORWARDED):
                    return await _forward_delete(ctx.worker_ports[owner], session_id)
            return _problem(ctx, 404, "unknown_session", "no such call")
        session.end("caller hung up")
        return Response(status_code=200)

    @api.post("/webrtc/offer")
    async def json_offer(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        try:
            body = await request.json()
            sdp, kind = body["sdp"], body.get("type", "offer")
            if not isinstance(sdp, str) or kind != "offer":
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _problem(ctx, 400, "bad_offer", 'send {"sdp": "...", "type": "offer"}')
        started = await _start(ctx, sdp)
        if isinstance(started, JSONResponse):
            return started
        return JSONResponse(
            {
                "sdp": started.pc.localDescription.sdp,
                "type": "answer",
                "id": started.id,
                "resource": f"{WHIP_PATH}/{started.id}",
            }
        )

    return api
