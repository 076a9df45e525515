"""GET /calls and /calls/{id}: the gateway's record of live and recent calls.

With several workers a call lives in one of them; a worker that does not hold
the call asks the others on their private loopback ports."""

from __future__ import annotations

import asyncio
import hmac
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.context import GatewayContext

FORWARDED = "x-sluice-forwarded"


def _refused(ctx: GatewayContext, request: Request) -> Response | None:
    token = ctx.settings.call_records_token
    if not token:
        return None
    given = request.headers.get("authorization", "").removeprefix("Bearer ")
    if hmac.compare_digest(given.encode(), token.encode()):
        return None
    return JSONResponse({"error": "unauthorized"}, status_code=401)


async def _ask_other_workers(
    ctx: GatewayContext, path: str, request: Request
) -> list[httpx.Response]:
    headers = {FORWARDED: "1"}
    if "authorization" in request.headers:
        headers["Authorization"] = request.headers["authorization"]
    ports = [p for i, p in enumerate(ctx.worker_ports) if i != ctx.worker_index]
    async with httpx.AsyncClient(timeout=2) as http:
        answers = await asyncio.gather(
            *(http.get(f"http://127.0.0.1:{port}{path}", headers=headers) for port in ports),
            return_exceptions=True,
        )
    # A worker that is restarting holds no calls worth waiting for.
    return [a for a in answers if isinstance(a, httpx.Response) and a.status_code == 200]


def router() -> APIRouter:
    api = APIRouter()

    @api.get("/calls")
    async def recent_calls(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := _refused(ctx, request)) is not None:
            return refused
        calls = ctx.records.recent()
        if not request.headers.get(FORWARDED):
            for answer in await _ask_other_workers(ctx, "/calls", request):
                calls.extend(answer.json().get("calls", []))
        return JSONResponse({"calls": calls})

    @api.get("/calls/{key}")
    async def call_record(key: str, request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        if (refused := _refused(ctx, request)) is not None:
            return refused
        record = ctx.records.get(key)
        if record is None and not request.headers.get(FORWARDED):
            for answer in await _ask_other_workers(ctx, f"/calls/{quote(key, safe='')}", request):
                return JSONResponse(answer.json())
        if record is None:
            return JSONResponse({"error": "unknown_call"}, status_code=404)
        return JSONResponse(record)

    return api
