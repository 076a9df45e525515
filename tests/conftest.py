from __future__ import annotations

import ctypes
import os
import subprocess
from collections.abc import AsyncIterator

import pytest

from gateway.runtime.config import Settings
from gateway.runtime.services import Services, build_services
from gateway.testing.inprocess import RunningGateway, start_gateway

_CLONE_NEWNET = 0x40000000
NETWORK_ISOLATED = False
"""True when this test process runs in a network namespace holding only loopback."""


def pytest_configure(config: pytest.Config) -> None:
    """Tests may only send traffic to loopback. As root, move the whole test run
    into a fresh network namespace whose only interface is `lo`, while the
    process is still single-threaded (unshare refuses otherwise). Browsers left
    alone pick the machine's other interfaces; in here there are none.
    """
    global NETWORK_ISOLATED
    if os.geteuid() != 0 or os.environ.get("SLUICE_TEST_NETNS", "1") == "0":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNET) != 0:
        raise RuntimeError(f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    NETWORK_ISOLATED = True


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

    async def start(
        services_override: Services | None = None, ws_protocol: type | None = None, **overrides
    ) -> RunningGateway:
        settings = Settings(**{"vad_min_silence_ms": 500, **overrides})
        protocol = {"ws_protocol": ws_protocol} if ws_protocol else {}
        gw = await start_gateway(settings, services_override or services, **protocol)
        running.append(gw)
        return gw

    yield start
    for gw in running:
        await gw.stop()


@pytest.fixture
async def gateway(gateway_factory) -> AsyncIterator[RunningGateway]:
    yield await gateway_factory()
