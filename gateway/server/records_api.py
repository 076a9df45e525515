"""GET /calls and /calls/{id}: the gateway's record of live and recent calls.

Private by default: with no `call_records_token` they answer only requests
from loopback addressed to this gateway by name (a DNS-rebinding page carries
its own host name and is refused). With several workers a call lives in one of
them; a worker that does not hold the call asks the others on their private
loopback ports, with one shared client, and with a single worker asks no one.
"""

from __future__ import annotations

import asyncio
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.access.tokens import bearer, is_loopback_address, token_matches
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.cluster.routing import route
from gateway.cluster.worker_link import FORWARDED, SECRET_HEADER
from gateway.runtime.context import GatewayContext
from transports.media_stream.outbound import outbound_calls

MAX_KEY_CHARS = 128


def operator_refused(ctx: GatewayContext, request: Request) -> Response | None:
    assert ctx.hosts is not None
    if not ctx.hosts.host_allowed(request.headers.get("host")):
        return JSONResponse({"error": "bad_host"}, status_code=403)
    if request.headers.get(FORWARDED):
        return None  # from a worker of ours: the guard checked its secret
    token = ctx.settings.call_records_token
    if not token:
        client = request.client.host if request.client else None
        if is_loopback_address(client):
            return None
        return JSONResponse(
            {"error": "forbidden", "detail": "set call_records_token to read records remotely"},
            status_code=403,
        )
    if token_matches(bearer(request.headers.get("authorization")), token):
        return None
    return JSONResponse({"error": "unauthorized"}, status_code=401,
                        headers={"WWW-Authenticate": "Bearer"})  # fmt: skip


async def _ask_other_workers(ctx: GatewayContext, path: str) -> list[httpx.Response]:
    ports = ctx.other_worker_ports
    if not ports:
        return []
    headers = {FORWARDED: "1", SECRET_HEADER: ctx.worker_secret}
    http = ctx.http()
    answers = await asyncio.gather(
        *(http.get(f"http://127.0.0.1:{port}{path}", headers=headers) for port in ports),
        return_exceptions=True,
    )
    # A worker that is restarting holds no calls worth waiting for.
    return [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 200]


async def _from_the_cluster(ctx: GatewayContext, request: Request, key: str) -> Response:
    """A call this process does not hold: ended (its record is in Redis) or
    live on another member, which is asked as an operator would ask it."""
    assert ctx.cluster is not None
    try:
        member, call_id, ended = await ctx.cluster.locate(key)
    except ClusterUnavailable:
        return JSONResponse({"error": "cluster_unavailable"}, status_code=503)
    if ended is not None:
        return JSONResponse(ended)
    target = route(member, ctx.cluster.me, f"/calls/{quote(call_id, safe='')}",
                   request.headers, ctx.worker_secret, carry=("authorization",))  # fmt: skip
    if target is None:
        return JSONResponse({"error": "unknown_call"}, status_code=404)
    url, headers = target
    try:
        answer = await ctx.http().get(url, headers=headers)
        return JSONResponse(answer.json(), status_code=answer.status_code)
    except (httpx.HTTPError, ValueError):
        return JSONResponse({"error": "node_unreachable"}, status_code=502)


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/calls")
    async def recent_calls(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := operator_refused(ctx, request)) is not None:
            return refused
        if ctx.cluster is not None:
            try:
                return JSONResponse({"calls": await ctx.cluster.recent()})
            except ClusterUnavailable:
                pass  # this node's own calls, below, rather than nothing
        calls = ctx.records.recent()
        if not request.headers.get(FORWARDED):
            for answer in await _ask_other_workers(ctx, "/calls"):
                calls.extend(answer.json().get("calls", []))
        return JSONResponse({"calls": calls})

    @api.get("/calls/{key}")
    async def call_record(key: str, request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := operator_refused(ctx, request)) is not None:
            return refused
        if len(key) > MAX_KEY_CHARS:
            return JSONResponse({"error": "unknown_call"}, status_code=404)
        record = ctx.records.get(key)
        if record is None and ctx.cluster is not None:
            return await _from_the_cluster(ctx, request, key)
        if record is None and not request.headers.get(FORWARDED):
            for answer in await _ask_other_workers(ctx, f"/calls/{quote(key, safe='')}"):
                return JSONResponse(answer.json())
        placed = outbound_calls(ctx).find(key) if "outbound" in ctx.extensions else None
        if placed is not None:
            # An outbound call: the carrier's states, and the call once it streamed.
            streamed = ctx.records.get(placed.call_id) if placed.call_id else None
            shown = streamed or record or {"call_id": placed.id}
            record = {**shown, "outbound": placed.as_dict()}
        if record is None:
            return JSONResponse({"error": "unknown_call"}, status_code=404)
        return JSONResponse(record)

    return api
