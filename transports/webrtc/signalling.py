"""WebRTC signalling: WHIP (SDP in, SDP out, a resource to DELETE) and a JSON
offer endpoint for the page. Non-trickle ICE: the answer carries every
candidate, so one round trip sets up the call.

Admission: an offer must come from an allowed Host and Origin and carry the
browser token (`Authorization: Bearer`, RFC 9725). Its session is then
*pending*: it holds a peer connection but no call slot and no model, and it has
`webrtc_connect_timeout_s` to complete ICE and DTLS. Only a connected session
takes a slot and becomes a call.

The WHIP resource id is a capability: it is handed only to the offerer, never
listed, and unguessable. It names its worker (`w{index}.…`) so that a hang-up
landing on another worker is forwarded to the one holding the call.
"""

from __future__ import annotations

import asyncio
import logging
import secrets

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.access.admission import Evicted
from gateway.access.http_limits import BodyRefused, content_type, read_body, read_json_object
from gateway.access.rate import RateLimit
from gateway.access.slots import REFUSALS
from gateway.access.tokens import bearer, token_matches
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.cluster.routing import route
from gateway.cluster.worker_link import FORWARDED, SECRET_HEADER
from gateway.runtime.context import GatewayContext
from transports.call_runner import client_address
from transports.webrtc.ice_servers import ice_servers
from transports.webrtc.offer_check import offer_problem
from transports.webrtc.session import KIND, OfferRejected, WebRtcSession

log = logging.getLogger(__name__)

MAX_SDP_BYTES = 64 * 1024
MAX_JSON_BYTES = 96 * 1024
"""An SDP of at most MAX_SDP_BYTES, JSON-escaped."""
WHIP_PATH = "/webrtc/whip"


def _turn_limit(ctx: GatewayContext) -> RateLimit:
    per_minute = ctx.settings.webrtc_turn_per_minute
    return ctx.extensions.setdefault(
        "webrtc.turn_limit", RateLimit(ctx.clock, per_minute, burst=per_minute)
    )


def sessions(ctx: GatewayContext) -> dict[str, WebRtcSession]:
    """This process's WebRTC sessions by resource id, for hang-up by DELETE."""
    return ctx.extensions.setdefault("webrtc.sessions", {})


async def end_sessions(ctx: GatewayContext) -> None:
    """The gateway is shutting down: end every session and wait for them."""
    live = list(sessions(ctx).values())
    for session in live:
        session.end("gateway stopping")
    await asyncio.gather(*[s.task for s in live if s.task], return_exceptions=True)


def _problem(ctx: GatewayContext, status: int, kind: str, detail: str) -> JSONResponse:
    ctx.metrics.protocol_errors.labels(KIND, kind).inc()
    log.warning("webrtc signalling refused (%s): %s", kind, detail)
    headers = {"Retry-After": str(ctx.settings.retry_after_s)} if status == 503 else {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse({"error": kind, "detail": detail}, status_code=status, headers=headers)


def _refused(ctx: GatewayContext, request: Request) -> JSONResponse | None:
    """Host, Origin and token, before a byte of the body is read."""
    assert ctx.hosts is not None
    host = request.headers.get("host", "")
    if not ctx.hosts.host_allowed(host):
        return _problem(ctx, 403, "bad_host", f"host {host!r} is not this gateway")
    origin = request.headers.get("origin")
    if not ctx.hosts.origin_allowed(origin, ctx.settings.browser_origins, host):
        return _problem(ctx, 403, "bad_origin", f"origin {origin!r} not allowed")
    given = bearer(request.headers.get("authorization"))
    if not token_matches(given, ctx.settings.browser_token):
        return _problem(ctx, 401, "bad_token", "missing or wrong access token")
    return None


async def _start(ctx: GatewayContext, request: Request, sdp: str) -> WebRtcSession | JSONResponse:
    problem = offer_problem(sdp, ctx.settings.webrtc_max_candidates)
    if problem is not None:
        return _problem(ctx, 400, "bad_offer", problem)
    assert ctx.slots is not None
    if (room := await ctx.slots.room()) != "ok":
        return _problem(ctx, 503, room, REFUSALS[room])
    assert ctx.pending is not None
    ticket = ctx.pending.enter(client_address(request))
    resource = f"w{ctx.worker_index}.{secrets.token_urlsafe(18)}"
    session = WebRtcSession(ctx.next_call_id("rtc"), ctx)
    try:
        await session.answer(sdp)
    except OfferRejected as exc:
        ctx.pending.leave(ticket)
        await session.close()
        return _problem(ctx, 400, "bad_offer", str(exc))
    except BaseException:
        ctx.pending.leave(ticket)
        await session.close()
        raise
    sessions(ctx)[resource] = session
    if ctx.cluster is not None:
        ctx.cluster.whip_started(resource)
    session.task = asyncio.create_task(_lifetime(ctx, session, resource, ticket), name=session.id)
    session.resource = resource
    return session


async def _lifetime(
    ctx: GatewayContext, session: WebRtcSession, resource: str, ticket: int
) -> None:
    assert ctx.pending is not None
    timeout = ctx.settings.webrtc_connect_timeout_s
    try:
        try:
            connected = await ctx.pending.run(ticket, session.wait_connected(), timeout)
        except TimeoutError:
            connected = False
            ctx.metrics.protocol_errors.labels(KIND, "connect_timeout").inc()
            log.info("webrtc session never connected within %g s", timeout)
        except Evicted:
            connected = False
            ctx.metrics.protocol_errors.labels(KIND, "evicted").inc()
        finally:
            ctx.pending.leave(ticket)
        if not connected:
            return
        assert ctx.slots is not None
        slot = await ctx.slots.take()
        if isinstance(slot, str):
            ctx.metrics.protocol_errors.labels(KIND, slot).inc()
            session.send_json({"type": "error", "code": slot, "fatal": True})
            return
        try:
            await session.run()
        finally:
            await ctx.slots.give(slot)
    finally:
        sessions(ctx).pop(resource, None)
        if ctx.cluster is not None:
            ctx.cluster.whip_ended(resource)
        await session.close()


def _owner(resource: str) -> int | None:
    head = resource.split(".", 1)[0]
    digits = head[1:]
    if head.startswith("w") and digits.isdigit() and len(digits) <= 4:
        return int(digits)
    return None


async def _hang_up_elsewhere(ctx: GatewayContext, request: Request, resource: str) -> Response:
    """The session lives on another node, or another worker of this one: the
    cluster's registry names its member, and the DELETE goes there."""
    assert ctx.cluster is not None
    try:
        owner = await ctx.cluster.whip_owner(resource)
    except ClusterUnavailable:
        return _problem(ctx, 503, "cluster_unavailable", REFUSALS["cluster_unavailable"])
    # Another node is asked at its public address, as any client would; it
    # finds the session itself (or forwards to its own worker that holds it).
    target = route(owner, ctx.cluster.me, f"{WHIP_PATH}/{resource}", request.headers,
                   ctx.worker_secret)  # fmt: skip
    if target is None:
        return _problem(ctx, 404, "unknown_session", "no such call")
    url, headers = target
    try:
        answer = await ctx.http().delete(url, headers=headers)
    except httpx.HTTPError:
        return _problem(ctx, 502, "internal", "the call's node did not answer")
    return Response(answer.content, status_code=answer.status_code,
                    media_type=answer.headers.get("content-type"))  # fmt: skip


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/webrtc/ice-servers")
    async def ice(request: Request) -> Response:
        """STUN and TURN for the page, with TURN credentials made for this call."""
        ctx: GatewayContext = request.app.state.ctx
        if (refused := _refused(ctx, request)) is not None:
            return refused
        if ctx.settings.webrtc_turn_secret:
            # Each answer mints relay credentials: a call needs one, nobody needs a stream.
            if not _turn_limit(ctx).allow(client_address(request)):
                return _problem(ctx, 429, "rate_limited", "TURN credentials asked too often")
            ctx.metrics.turn_credentials.inc()
        return JSONResponse({"iceServers": ice_servers(ctx.settings)},
                            headers={"Cache-Control": "no-store"})  # fmt: skip

    @api.post(WHIP_PATH)
    async def whip_offer(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := _refused(ctx, request)) is not None:
            return refused
        if content_type(request) != "application/sdp":
            return _problem(ctx, 415, "bad_offer", "WHIP offers are application/sdp")
        try:
            sdp = (await read_body(request, MAX_SDP_BYTES)).decode()
        except BodyRefused as body:
            return _problem(ctx, body.status, body.kind, body.detail)
        except UnicodeDecodeError:
            return _problem(ctx, 400, "bad_offer", "the offer is not UTF-8")
        started = await _start(ctx, request, sdp)
        if isinstance(started, JSONResponse):
            return started
        return Response(
            started.pc.localDescription.sdp,
            status_code=201,
            media_type="application/sdp",
            headers={"Location": f"{WHIP_PATH}/{started.resource}"},
        )

    @api.delete(WHIP_PATH + "/{resource}")
    async def whip_hangup(resource: str, request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        session = sessions(ctx).get(resource)
        sibling = _owner(resource)
        if session is None and ctx.cluster is not None and len(resource) <= 64:
            if sibling is None or sibling == ctx.worker_index or not ctx.worker_ports:
                return await _hang_up_elsewhere(ctx, request, resource)
        if session is None:
            owner = sibling
            ports = ctx.worker_ports
            forwarded = request.headers.get(FORWARDED)
            if owner is not None and owner != ctx.worker_index and owner < len(ports):
                if not forwarded:
                    try:
                        answer = await ctx.http().delete(
                            f"http://127.0.0.1:{ports[owner]}{WHIP_PATH}/{resource}",
                            headers={FORWARDED: "1", SECRET_HEADER: ctx.worker_secret},
                        )
                    except httpx.HTTPError:
                        return _problem(ctx, 502, "internal", "the call's worker did not answer")
                    return Response(answer.content, status_code=answer.status_code,
                                    media_type=answer.headers.get("content-type"))  # fmt: skip
            return _problem(ctx, 404, "unknown_session", "no such call")
        session.end("caller hung up")
        return Response(status_code=200)

    @api.post("/webrtc/offer")
    async def json_offer(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := _refused(ctx, request)) is not None:
            return refused
        try:
            body = await read_json_object(request, MAX_JSON_BYTES)
        except BodyRefused as bad:
            return _problem(ctx, bad.status, bad.kind, bad.detail)
        sdp, kind = body.get("sdp"), body.get("type", "offer")
        if not isinstance(sdp, str) or kind != "offer":
            return _problem(ctx, 400, "bad_offer", 'send {"sdp": "...", "type": "offer"}')
        if len(sdp.encode("utf-8", "surrogatepass")) > MAX_SDP_BYTES:
            return _problem(ctx, 413, "oversized", f"an offer of {len(sdp)} characters")
        started = await _start(ctx, request, sdp)
        if isinstance(started, JSONResponse):
            return started
        return JSONResponse(
            {
                "sdp": started.pc.localDescription.sdp,
                "type": "answer",
                "id": started.id,
                "resource": f"{WHIP_PATH}/{started.resource}",
            }
        )

    return api
