"""The browser WebSocket's one route."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from transports.websocket.media import BrowserStream

PATH = "/browser/ws"


def router() -> APIRouter:
    api = APIRouter()

    @api.websocket(PATH)
    async def browser_ws(ws: WebSocket) -> None:
        await BrowserStream(ws, ws.app.state.ctx).serve()

    return api
