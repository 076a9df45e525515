"""The gateway's WebSocket protocol (gateway/server/ws_protocol.py): it reads a
few messages ahead of the app instead of stopping the socket after each one,
and hands a media stream's messages straight to its receive loop
(transports/direct.py)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import uvicorn
import websockets
from starlette.websockets import WebSocket
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from gateway.server.ws_protocol import ReadAheadProtocol
from transports import close_codes
from transports.direct import Ending, direct_of, receive_directly

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


# ---- the hand-over ----------------------------------------------------------


def handing_over_app(  # type: ignore[no-untyped-def]
    handled: list[str | bytes], ready: asyncio.Event, endings: list, fail_on: str = ""
):
    """Accepts, waits for `ready` (messages meanwhile queue through ASGI), then
    receives through the hand-over until "stop" ends it; records the ending."""

    def handle(message: str | bytes) -> Ending | None:
        if message == fail_on:
            raise ValueError("the handler failed")
        handled.append(message)
        return (close_codes.NORMAL, "told to stop") if message == "stop" else None

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        ws = WebSocket(scope, receive, send)
        await ws.accept()
        await ready.wait()
        direct = direct_of(ws)
        assert direct is not None
        try:
            endings.append(await receive_directly(ws, direct, handle))
        except ValueError as exc:
            endings.append(exc)
            await ws.close(close_codes.INTERNAL)
            return
        if endings[-1][1] == "told to stop":
            await ws.close(endings[-1][0])

    return app


async def test_a_receive_loop_gets_every_message_in_order_with_those_queued_before_it() -> None:
    handled: list[str | bytes] = []
    endings: list = []
    ready = asyncio.Event()
    before = ReadAheadProtocol.handed_over
    server, task, url = await serve(handing_over_app(handled, ready, endings), ReadAheadProtocol)
    sent: list[str | bytes] = []
    try:
        async with websockets.connect(url) as ws:
            for i in range(20):  # more than UNREAD: reading stops, and must start again
                sent.append(f"early {i}")
                await ws.send(sent[-1])
            await asyncio.sleep(0.2)
            ready.set()
            for i in range(MESSAGES):
                sent.append(f"frame {i}" if i % 2 else bytes([i % 256]) * 160)
                await ws.send(sent[-1])
            sent.append("stop")
            await ws.send("stop")
            await ws.wait_closed()
            code = ws.close_code
    finally:
        server.should_exit = True
        await task
    assert handled == sent
    assert endings == [(close_codes.NORMAL, "told to stop")]
    assert code == close_codes.NORMAL
    # The early ones waited on the queue; every later one was handed over.
    assert ReadAheadProtocol.handed_over - before >= MESSAGES


@asynccontextmanager
async def handing_over(fail_on: str = "") -> AsyncIterator[tuple[str, list, list]]:
    """A server whose app receives through the hand-over at once: (url, handled, endings)."""
    handled: list[str | bytes] = []
    endings: list = []
    ready = asyncio.Event()
    ready.set()
    app = handing_over_app(handled, ready, endings, fail_on)
    server, task, url = await serve(app, ReadAheadProtocol)
    try:
        yield url, handled, endings
    finally:
        server.should_exit = True
        await task


async def test_a_peer_that_leaves_ends_the_loop_with_its_close_code() -> None:
    async with handing_over() as (url, handled, endings):
        async with websockets.connect(url) as ws:
            await ws.send("one")
            await ws.close(1001)
        for _ in range(200):
            if endings:
                break
            await asyncio.sleep(0.01)
    assert handled == ["one"]
    assert endings == [(close_codes.NORMAL, close_codes.disconnect_reason(1001))]


async def test_a_handler_that_raises_fails_its_loop_and_reads_nothing_more() -> None:
    async with handing_over(fail_on="boom") as (url, handled, endings):
        async with websockets.connect(url) as ws:
            await ws.send("one")
            await ws.send("boom")
            await ws.send("two")  # after the failure: not the call's any more
            await ws.wait_closed()
    assert handled == ["one"]
    assert len(endings) == 1 and isinstance(endings[0], ValueError)
    assert ws.close_code == close_codes.INTERNAL


async def test_text_that_is_not_utf8_is_refused_as_before() -> None:
    async with handing_over() as (url, handled, _):
        async with websockets.connect(url) as ws:
            await ws.send("fine")
            await asyncio.sleep(0.1)
            await ws.send(b"\xff\xfe", text=True)
            await ws.wait_closed()
    assert handled == ["fine"]
    assert ws.close_code == close_codes.INVALID
