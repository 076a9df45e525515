"""The gateway's WebSocket protocol reads a few messages ahead of the app
instead of stopping the socket after each one (gateway/server/ws_protocol.py)."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn
import websockets
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.server.ws_protocol import ReadAheadProtocol

pytestmark = pytest.mark.timeout(30)

MESSAGES = 200


def counting(base: type) -> type:
    """`base`, counting how often it stops reading its socket."""

    class Counting(base):  # type: ignore[misc, valid-type]
        pauses = 0
        protocols: list = []

        def connection_made(self, transport) -> None:  # type: ignore[no-untyped-def]
            super().connection_made(transport)
            Counting.protocols.append(self)
            stop = transport.pause_reading

            def pause() -> None:
                Counting.pauses += 1
                stop()

            transport.pause_reading = pause

    return Counting


async def serve(app, protocol: type):  # type: ignore[no-untyped-def]
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, ws=protocol, log_config=None, lifespan="off",
                            ws_ping_interval=None)  # fmt: skip
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    return server, task, f"ws://127.0.0.1:{sock.getsockname()[1]}"


def reading_app(  # type: ignore[no-untyped-def]
    received: list[str], release: asyncio.Event, count: int = MESSAGES
):
    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        assert scope["type"] == "websocket"
        await receive()  # connect
        await send({"type": "websocket.accept"})
        await release.wait()
        while len(received) < count:
            message = await receive()
            received.append(message["text"])
        await send({"type": "websocket.close", "code": 1000})

    return app


@pytest.mark.parametrize("base", [ReadAheadProtocol, WebSocketsSansIOProtocol])
async def test_messages_an_app_reads_as_they_come_need_no_stop_and_start(base: type) -> None:
    received: list[str] = []
    release = asyncio.Event()
    release.set()
    protocol = counting(base)
    server, task, url = await serve(reading_app(received, release), protocol)
    try:
        async with websockets.connect(url) as ws:
            for i in range(MESSAGES):
                await ws.send(f"frame {i}")
                await asyncio.sleep(0.001)
            await ws.wait_closed()
    finally:
        server.should_exit = True
        await task
    assert received == [f"frame {i}" for i in range(MESSAGES)]
    if base is ReadAheadProtocol:
        assert protocol.pauses <= 2, protocol.pauses
    else:
        assert protocol.pauses >= MESSAGES // 2  # uvicorn's own stops after each one
