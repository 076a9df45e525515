"""The voice webhook: TwiML for a valid signature, 403 otherwise, and the token round trip."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import httpx
import pytest
from twilio.request_validator import RequestValidator

from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import only_call

pytestmark = pytest.mark.timeout(30)

TOKEN = "test-auth-token"
PARAMS = {"CallSid": "CA123", "From": "+15550001111", "To": "+15550002222"}


def sign(url: str, params: dict[str, str], token: str = TOKEN) -> str:
    return RequestValidator(token).compute_signature(url, params)


def stream_of(twiml: str) -> tuple[str, dict[str, str]]:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    return stream.get("url"), {p.get("name"): p.get("value") for p in stream.findall("Parameter")}


async def test_a_valid_signature_gets_twiml_with_a_stream_and_token(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS)}
        )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    stream_url, params = stream_of(response.text)
    assert stream_url == gw.ws_url + "/twilio/media"
    assert params["sluice_token"] and params["call_sid"] == "CA123"


@pytest.mark.parametrize("signature", [None, "", "bm90IGEgc2lnbmF0dXJl"])
async def test_a_bad_or_missing_signature_gets_403(gateway_factory, signature):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    headers = {} if signature is None else {"X-Twilio-Signature": signature}
    async with httpx.AsyncClient() as http:
        response = await http.post(gw.base_url + "/twilio/voice", data=PARAMS, headers=headers)
    assert response.status_code == 403
    assert gw.ctx.metrics.protocol_errors.labels("twilio", "bad_signature")._value.get() == 1


async def test_a_signature_over_tampered_params_gets_403(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    signature = sign(url, PARAMS)
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, data={**PARAMS, "From": "+15559999999"}, headers={"X-Twilio-Signature": signature}
        )
    assert response.status_code == 403


async def test_behind_a_proxy_the_signed_url_is_rebuilt_from_forwarded_headers(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    public = "https://voice.example.com/twilio/voice"
    headers = {
        "X-Twilio-Signature": sign(public, PARAMS),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "voice.example.com",
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(gw.base_url + "/twilio/voice", data=PARAMS, headers=headers)
    assert response.status_code == 200
    assert stream_of(response.text)[0] == "wss://voice.example.com/twilio/media"


async def test_the_token_from_the_webhook_opens_exactly_one_stream(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS)}
        )
    _, params = stream_of(response.text)
    media = gw.ws_url + "/twilio/media"
    sid = PARAMS["CallSid"]
    async with TwilioCaller(media, token=params["sluice_token"], call_sid=sid) as first:
        await only_call(gw.ctx)
        assert not first.closed
        async with TwilioCaller(media, token=params["sluice_token"], call_sid=sid) as replay:
            await replay.wait_until(lambda: replay.closed, timeout=5)
            assert replay.close_code == 1008
    async with TwilioCaller(gw.ws_url + "/twilio/media") as tokenless:
        await tokenless.wait_until(lambda: tokenless.closed, timeout=5)
        assert (tokenless.close_code, tokenless.close_reason) == (1008, "missing stream token")


async def test_health_and_metrics_endpoints(gateway):
    async with TwilioCaller(gateway.ws_url + "/twilio/media"):
        await only_call(gateway.ctx)
        async with httpx.AsyncClient() as http:
            health = (await http.get(gateway.base_url + "/healthz")).json()
            metrics = (await http.get(gateway.base_url + "/metrics")).text
    assert health["status"] == "ok" and health["calls"] == 1
    assert 'sluice_calls_active{transport="twilio"} 1.0' in metrics
    assert "sluice_in_flight_ms" in metrics and "sluice_credit_ms" in metrics
    # The gateway and its STT worker processes, together: what a call really costs.
    cpu = next(
        float(line.split()[-1])
        for line in metrics.splitlines()
        if line.startswith("sluice_process_tree_cpu_seconds_total ")
    )
    assert cpu > 0


async def test_a_replayed_webhook_mints_no_new_token_and_none_after_the_stream(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    headers = {"X-Twilio-Signature": sign(url, PARAMS)}
    async with httpx.AsyncClient() as http:
        answers = [(await http.post(url, data=PARAMS, headers=headers)).text for _ in range(20)]
        tokens = {stream_of(a)[1]["sluice_token"] for a in answers}
        assert len(tokens) == 1
        async with TwilioCaller(
            gw.ws_url + "/twilio/media", token=tokens.pop(), call_sid=PARAMS["CallSid"]
        ):
            await only_call(gw.ctx)
            again = await http.post(url, data=PARAMS, headers=headers)
    assert "<Reject" in again.text and "sluice_token" not in again.text


async def test_a_token_opens_only_the_call_it_was_issued_for(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    async with httpx.AsyncClient() as http:
        response = await http.post(
            url, data=PARAMS, headers={"X-Twilio-Signature": sign(url, PARAMS)}
        )
    token = stream_of(response.text)[1]["sluice_token"]
    async with TwilioCaller(gw.ws_url + "/twilio/media", token=token, call_sid="CAvictim") as c:
        await c.wait_until(lambda: c.closed, timeout=5)
    assert (c.close_code, c.close_reason) == (1008, "the token was issued for another call")
    assert not gw.ctx.calls


async def test_webhook_bodies_are_refused_by_size_and_type_before_they_are_read(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    async with httpx.AsyncClient() as http:
        form = {"Content-Type": "application/x-www-form-urlencoded"}
        big = await http.post(url, content=b"a=" + b"x" * (1 << 20), headers=form)
        multipart = await http.post(url, files={"f": ("f.bin", b"x" * 1000)})
    assert big.status_code == 413
    assert multipart.status_code == 415
