"""Admission before resources: connections that never show they may call take
no slot and no model, are closed by their deadline, and cannot keep a real
caller out."""

from __future__ import annotations

import asyncio
import json

import httpx
import psutil
import pytest
import websockets
from aiortc import RTCConfiguration, RTCPeerConnection
from twilio.request_validator import RequestValidator

from gateway.pipeline.agent import _STORY
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import close_code, only_call, wait_for
from transports.webrtc.signalling import sessions as webrtc_sessions

pytestmark = pytest.mark.timeout(90)

AUTH = "auth-token-for-tests"
PARAMS = {"CallSid": "CAreal0001", "From": "+15550001111", "To": "+15550002222"}
LOOPBACK = {"webrtc_host_addresses": "127.0.0.1"}


async def signed_stream_token(gw) -> str:
    url = gw.base_url + "/twilio/voice"
    signature = RequestValidator(AUTH).compute_signature(url, PARAMS)
    async with httpx.AsyncClient() as http:
        answer = await http.post(url, data=PARAMS, headers={"X-Twilio-Signature": signature})
    assert "<Stream" in answer.text, answer.text
    return answer.text.split('name="sluice_token" value="')[1].split('"')[0]


async def test_250_idle_streams_take_no_slot_and_a_signed_call_still_gets_through(
    gateway_factory,
):
    gw = await gateway_factory(
        twilio_auth_token=AUTH, twilio_start_timeout_s=2.0, max_calls=4, greeting="Hello there."
    )
    media = gw.ws_url + "/twilio/media"
    # Spread over 25 loopback addresses, 10 each: every one stays pending.
    idle = await asyncio.gather(
        *(
            websockets.connect(media, local_addr=(f"127.0.0.{10 + i // 10}", 0), open_timeout=10)
            for i in range(250)
        )
    )
    try:
        await wait_for(lambda: len(gw.ctx.pending.gate) == 250, timeout=5)
        assert gw.ctx.active_calls == 0 and not gw.ctx.calls
        token = await signed_stream_token(gw)  # the webhook still has room
        async with TwilioCaller(media, token=token, call_sid=PARAMS["CallSid"]) as caller:
            call = await only_call(gw.ctx)
            await wait_for(lambda: caller.log.played_ms(1) >= 300, timeout=10)
            assert call.call_id.startswith("tw-")
        codes = await asyncio.gather(*(close_code(ws) for ws in idle))
    finally:
        await asyncio.gather(*(ws.close() for ws in idle), return_exceptions=True)
    assert codes == [1008] * 250
    assert len(gw.ctx.pending.gate) == 0 and gw.ctx.active_calls == 0
    timeouts = gw.ctx.metrics.protocol_errors.labels("twilio", "start_timeout")._value.get()
    assert timeouts == 250


async def test_a_flood_from_one_address_evicts_itself_not_a_caller(gateway_factory):
    gw = await gateway_factory(
        twilio_auth_token=AUTH, twilio_start_timeout_s=5.0, pending_per_address=5, pending_max=20
    )
    media = gw.ws_url + "/twilio/media"
    flood = [await websockets.connect(media, local_addr=("127.0.0.2", 0)) for _ in range(30)]
    try:
        codes = await asyncio.gather(*(close_code(ws) for ws in flood[:25]))
        assert codes == [1013] * 25  # displaced by their own address's newer ones
        assert gw.ctx.pending.gate.count("127.0.0.2") == 5
        token = await signed_stream_token(gw)
        async with TwilioCaller(media, token=token, call_sid=PARAMS["CallSid"]):
            await only_call(gw.ctx)
    finally:
        await asyncio.gather(*(ws.close() for ws in flood), return_exceptions=True)


async def test_browser_sockets_wait_for_their_hello_without_a_slot(gateway_factory):
    gw = await gateway_factory(browser_token="s3cret", browser_hello_timeout_s=1.0, max_calls=2)
    url = gw.ws_url + "/browser/ws"
    idle = [await websockets.connect(url) for _ in range(10)]
    assert gw.ctx.active_calls == 0
    codes = await asyncio.gather(*(close_code(ws) for ws in idle))
    assert codes == [1008] * 10


def _rss() -> int:
    return psutil.Process().memory_info().rss


async def test_webrtc_offers_need_the_token_and_unconnected_sessions_leave(gateway_factory):
    gw = await gateway_factory(
        **LOOPBACK, browser_token="s3cret", webrtc_connect_timeout_s=2.0,
        pending_per_address=100, greeting=_STORY,
    )  # fmt: skip
    async with WebRtcCaller(gw.base_url, token="s3cret") as admitted:
        await wait_for(lambda: admitted.log.played_ms(1) >= 500, timeout=15)
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTransceiver("audio")
        await pc.setLocalDescription(await pc.createOffer())
        offer = pc.localDescription.sdp
        await pc.close()
        whip = gw.base_url + "/webrtc/whip"
        sdp = {"content-type": "application/sdp"}
        async with httpx.AsyncClient() as http:
            refused = [
                (await http.post(whip, content=offer, headers=sdp)).status_code for _ in range(100)
            ]
            wrong = await http.post(
                whip, content=offer, headers={**sdp, "authorization": "Bearer x"}
            )
            page = await http.post(gw.base_url + "/webrtc/offer", json={"sdp": offer})
            assert refused == [401] * 100 and wrong.status_code == 401 and page.status_code == 401
            assert len(webrtc_sessions(gw.ctx)) == 1
            baseline, models = _rss(), gw.ctx.services.vad.streams_opened
            auth = {**sdp, "authorization": "Bearer s3cret"}
            accepted = await asyncio.gather(
                *(http.post(whip, content=offer, headers=auth) for _ in range(50))
            )
        assert [a.status_code for a in accepted] == [201] * 50
        assert gw.ctx.active_calls == 1  # pending sessions hold no slot
        assert len(webrtc_sessions(gw.ctx)) > 40
        await wait_for(lambda: len(webrtc_sessions(gw.ctx)) == 1, timeout=10)
        heard = admitted.log.played_ms(1)
        await asyncio.sleep(1.0)
        assert admitted.log.played_ms(1) >= heard + 700  # the admitted call plays on
        grown_mb = (_rss() - baseline) / 1e6
        assert grown_mb < 60, f"{grown_mb:.0f} MB still held after 50 sessions left"
        # No voice detector for a pending session.
        assert gw.ctx.services.vad.streams_opened == models
    timeouts = gw.ctx.metrics.protocol_errors.labels("webrtc", "connect_timeout")._value.get()
    assert timeouts == 50


async def test_an_offer_naming_many_candidates_is_refused(gateway_factory):
    gw = await gateway_factory(**LOOPBACK)
    lines = "".join(
        f"a=candidate:{i} 1 udp 2130706431 192.0.2.{i} 9 typ host\r\n" for i in range(100)
    )
    sdp = "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
    async with httpx.AsyncClient() as http:
        r = await http.post(
            gw.base_url + "/webrtc/offer", content=json.dumps({"sdp": sdp + lines}),
            headers={"content-type": "application/json"},
        )  # fmt: skip
    assert r.status_code == 400 and "candidates" in r.json()["detail"]
    assert not webrtc_sessions(gw.ctx)
