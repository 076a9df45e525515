from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import uvicorn

from gateway.app import create_app
from gateway.config import Settings
from gateway.context import GatewayContext
from gateway.services import Services, build_services


@pytest.fixture(scope="session")
def services() -> Services:
    """Models load once for the whole test run, as they do once per gateway process."""
    svc = build_services(Settings())
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def speech(services: Services):
    """Caller speech made with the TTS, cached per sentence: `await speech(text)`."""
    cache: dict[str, bytes] = {}

    async def make(text: str) -> bytes:
        if text not in cache:
            cache[text] = await services.tts.synthesize(text)
        return cache[text]

    return make


@dataclass
class RunningGateway:
    base_url: str
    ws_url: str
    ctx: GatewayContext
    settings: Settings


@pytest.fixture
async def gateway_factory(services: Services):
    servers: list[tuple[uvicorn.Server, asyncio.Task]] = []

    async def start(services_override: Services | None = None, **overrides) -> RunningGateway:
        settings = Settings(**{"vad_min_silence_ms": 500, **overrides})
        app = create_app(settings, services=services_override or services)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            app, log_config=None, ws_max_size=64 * 1024, lifespan="on", ws_ping_interval=None,
            ws_per_message_deflate=False,
        )
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve(sockets=[sock]))
        servers.append((server, task))
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        base = f"http://127.0.0.1:{port}"
        return RunningGateway(base, f"ws://127.0.0.1:{port}", app.state.ctx, settings)

    yield start
    for server, task in servers:
        server.should_exit = True
    for server, task in servers:
        try:
            await asyncio.wait_for(task, 5)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()


@pytest.fixture
async def gateway(gateway_factory) -> AsyncIterator[RunningGateway]:
    yield await gateway_factory()
