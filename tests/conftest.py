from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.config import Settings
from gateway.services import Services, build_services
from gateway.testing.inprocess import RunningGateway, start_gateway


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


@pytest.fixture
async def gateway_factory(services: Services):
    running: list[RunningGateway] = []

    async def start(services_override: Services | None = None, **overrides) -> RunningGateway:
        settings = Settings(**{"vad_min_silence_ms": 500, **overrides})
        gw = await start_gateway(settings, services_override or services)
        running.append(gw)
        return gw

    yield start
    for gw in running:
        await gw.stop()


@pytest.fixture
async def gateway(gateway_factory) -> AsyncIterator[RunningGateway]:
    yield await gateway_factory()
