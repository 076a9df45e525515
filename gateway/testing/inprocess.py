"""A gateway served on loopback inside the current event loop (tests, latency benches)."""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass

import uvicorn

from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from gateway.runtime.services import Services
from gateway.server.app import create_app
from gateway.server.drain import DrainingServer
from gateway.server.ws_protocol import ReadAheadProtocol


@dataclass
class RunningGateway:
    base_url: str
    ws_url: str
    ctx: GatewayContext
    settings: Settings
    server: uvicorn.Server
    task: asyncio.Task
    app: object = None
    """The ASGI app, for driving it in process (httpx.ASGITransport) as a remote client."""

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, 5)
        except (TimeoutError, asyncio.CancelledError):
            self.task.cancel()


async def start_gateway(
    settings: Settings, services: Services, ws_protocol: type = ReadAheadProtocol
) -> RunningGateway:
    """`ws_protocol`: the server's WebSocket protocol; uvicorn's own shows how
    the gateway runs under a server without the hand-over (transports/direct.py)."""
    app = create_app(settings, services=services)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_config=None,
        ws_max_size=256 * 1024,  # as `sluice serve`: adapters refuse past 64 KiB
        ws=ws_protocol,
        lifespan="on",
        ws_ping_interval=None,
        ws_per_message_deflate=False,
    )
    # The server `sluice serve` runs: at stop, calls end with "gateway stopping".
    server = DrainingServer(config, settings.drain_timeout_s)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
            raise RuntimeError("gateway exited during startup")
        await asyncio.sleep(0.01)
    return RunningGateway(
        f"http://127.0.0.1:{port}",
        f"ws://127.0.0.1:{port}",
        app.state.ctx,
        settings,
        server,
        task,
        app,
    )
