from __future__ import annotations

import asyncio
import time

import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.call.call import Call
from gateway.call.events import CallEvent
from gateway.call.turns import TurnPhase
from gateway.server.ws_protocol import ReadAheadProtocol

SERVERS = {"hand-over": ReadAheadProtocol, "asgi": WebSocketsSansIOProtocol}
"""Sluice's own WebSocket protocol, and uvicorn's (every message through ASGI)."""


async def wait_for(predicate, timeout: float, poll: float = 0.01) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(poll)


async def only_call(ctx, timeout: float = 5.0) -> Call:
    await wait_for(lambda: len(ctx.calls) == 1, timeout)
    return next(iter(ctx.calls.values()))


def record_events(call: Call) -> list[CallEvent]:
    events: list[CallEvent] = []
    call.listeners.append(events.append)
    return events


def listening_after(call: Call, turn_id: int):
    return lambda: call.turns.turn_id >= turn_id and call.turns.phase is TurnPhase.LISTENING


async def close_code(ws, timeout: float = 10.0) -> int | None:
    """Reads a raw websockets client until the server closes it; its close code."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code
