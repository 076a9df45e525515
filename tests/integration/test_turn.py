"""TURN for WebRTC behind NAT: a real coturn with a shared secret, the gateway
handing out time-limited credentials, and a peer that may only use relays."""

from __future__ import annotations

import secrets

import httpx
import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy

from gateway.testing.local_services import Coturn
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import only_call, wait_for

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(not Coturn.available(), reason="needs apt-get install coturn"),
]


@pytest.fixture
def coturn():
    server = Coturn(secret=secrets.token_hex(16)).start()
    yield server
    server.stop()


async def test_a_relay_only_peer_calls_through_coturn_with_rest_credentials(
    gateway_factory, coturn
):
    gw = await gateway_factory(
        webrtc_host_addresses="127.0.0.1",
        webrtc_turn_url=coturn.url,
        webrtc_turn_secret=coturn.secret,
        webrtc_turn_ttl_s=600,
    )
    async with httpx.AsyncClient() as http:
        servers = (await http.get(gw.base_url + "/webrtc/ice-servers")).json()["iceServers"]
    (turn,) = servers
    assert turn["urls"] == coturn.url and turn["username"].endswith(":sluice")
    relay_only = RTCConfiguration(
        iceServers=[RTCIceServer(**turn)], iceTransportPolicy=RTCIceTransportPolicy.RELAY
    )
    async with WebRtcCaller(gw.base_url, configuration=relay_only) as caller:
        await only_call(gw.ctx, timeout=15)
        await wait_for(lambda: caller.log.played_ms(1) >= 1000, timeout=20)
    assert coturn.relayed_allocations() >= 1, "coturn granted no relay"


async def test_credentials_coturn_does_not_know_get_no_relay(gateway_factory, coturn):
    gw = await gateway_factory(
        webrtc_host_addresses="127.0.0.1",
        webrtc_turn_url=coturn.url,
        webrtc_turn_secret="not-" + coturn.secret,
    )
    async with httpx.AsyncClient() as http:
        (turn,) = (await http.get(gw.base_url + "/webrtc/ice-servers")).json()["iceServers"]
    relay_only = RTCConfiguration(
        iceServers=[RTCIceServer(**turn)], iceTransportPolicy=RTCIceTransportPolicy.RELAY
    )
    caller = WebRtcCaller(gw.base_url, configuration=relay_only)
    try:
        await caller.connect()
    except Exception:  # noqa: BLE001 - an offer with no candidate may be refused outright
        pass
    await wait_for(lambda: not gw.ctx.calls and gw.ctx.active_calls == 0, timeout=15)
    assert coturn.relayed_allocations() == 0
    await caller.hang_up(delete=False)
