"""Limits enforced while reading, private records and capabilities, and a
caller who floods audio: none of it harms the calls beside it."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import httpx
import numpy as np
import psutil
import pytest
import websockets

from gateway.audio import mulaw
from gateway.audio.resample import StreamResampler
from gateway.call.events import Transcript
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(90)

BIG = 64 << 20


async def post_huge(port: int, path: str, headers: str, chunked: bool) -> tuple[str, int]:
    """Streams up to 64 MB; returns the status line and how much was sent before it came."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BIG}"
    writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{headers}{length}\r\n\r\n".encode())
    status = asyncio.ensure_future(reader.readline())
    block, sent = b"a" * 65536, 0
    try:
        while sent < BIG and not status.done():
            writer.write(b"10000\r\n" + block + b"\r\n" if chunked else block)
            await writer.drain()
            sent += len(block)
    except (ConnectionError, OSError):
        pass  # the server answered and closed
    line = (await asyncio.wait_for(status, 10)).decode()
    writer.close()
    return line, sent


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/webrtc/whip", "Content-Type: application/sdp\r\n"),
        ("/webrtc/offer", "Content-Type: application/json\r\n"),
        ("/twilio/voice", "Content-Type: application/x-www-form-urlencoded\r\n"),
    ],
    ids=["whip", "offer", "webhook"],
)
async def test_a_64_mb_body_is_refused_without_being_read(gateway, path, headers, chunked):
    before = psutil.Process().memory_info().rss
    port = int(gateway.base_url.rsplit(":", 1)[1])
    line, sent = await post_huge(port, path, headers, chunked)
    assert " 413 " in line, line
    assert sent < 8 << 20, f"{sent >> 20} MB went in before the refusal"
    assert psutil.Process().memory_info().rss - before < 32 << 20


async def test_records_answer_only_on_loopback_by_default_and_never_to_a_rebinding_host(gateway):
    async with TwilioCaller(gateway.ws_url + "/twilio/media") as caller:
        call = await only_call(gateway.ctx)
        async with httpx.AsyncClient() as http:
            local = await http.get(gateway.base_url + "/calls")
            rebinding = await http.get(
                gateway.base_url + "/calls", headers={"Host": "attacker.example:8080"}
            )
        remote = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=gateway.app, client=("203.0.113.9", 40000)),
            base_url="http://127.0.0.1",
        )
        async with remote:
            outside = await remote.get("/calls")
            outside_one = await remote.get(f"/calls/{call.call_id}")
            outside_alias = await remote.get(f"/calls/{caller.call_sid}")
    assert local.status_code == 200 and local.json()["calls"][0]["call_id"] == call.call_id
    assert rebinding.status_code == 403
    assert {outside.status_code, outside_one.status_code, outside_alias.status_code} == {403}


async def test_call_ids_are_unguessable_and_whip_resources_are_never_listed(gateway_factory):
    gw = await gateway_factory(webrtc_host_addresses="127.0.0.1")
    async with WebRtcCaller(gw.base_url) as first, WebRtcCaller(gw.base_url) as second:
        await wait_for(lambda: len(gw.ctx.calls) == 2, timeout=10)
        ids = [first.call_id, second.call_id]
        assert all(re.fullmatch(r"rtc-[A-Za-z0-9_-]{16}", i) for i in ids) and ids[0] != ids[1]
        async with httpx.AsyncClient() as http:
            listing = (await http.get(gw.base_url + "/calls")).text
            record = (await http.get(gw.base_url + f"/calls/{first.call_id}")).text
            resource = first.resource.rsplit("/", 1)[1]
            near = resource[:-1] + ("x" if resource[-1] != "x" else "y")
            assert resource not in listing and resource not in record
            guesses = [
                await http.delete(gw.base_url + f"/webrtc/whip/{guess}")
                for guess in (first.call_id, "w0.0", near, "9" * 5000)
            ]
        assert [g.status_code for g in guesses] == [404] * 4
        assert len(gw.ctx.calls) == 2


async def test_a_stream_cannot_take_over_another_calls_record(gateway):
    async with TwilioCaller(gateway.ws_url + "/twilio/media") as victim:
        await only_call(gateway.ctx)
        async with TwilioCaller(gateway.ws_url + "/twilio/media", call_sid=victim.call_sid):
            await wait_for(lambda: len(gateway.ctx.calls) == 2, timeout=5)
            async with httpx.AsyncClient() as http:
                record = (await http.get(gateway.base_url + f"/calls/{victim.call_sid}")).json()
            victim_id = next(c for c in gateway.ctx.calls.values() if c.transport.stream_id
                             == victim.stream_sid).call_id  # fmt: skip
    assert record["call_id"] == victim_id


def _ulaw_messages(pcm16k: bytes, stream_sid: str) -> list[str]:
    down = StreamResampler(16000, 8000)
    ulaw = mulaw.encode(down.process(np.frombuffer(pcm16k, dtype=np.int16)))
    return [
        json.dumps({"event": "media", "streamSid": stream_sid,
                    "media": {"payload": base64.b64encode(ulaw[i : i + 160]).decode()}})
        for i in range(0, len(ulaw) - 159, 160)
    ]  # fmt: skip


async def test_a_caller_flooding_audio_cannot_starve_the_calls_beside_it(gateway_factory, speech):
    gw = await gateway_factory(greeting="")
    question = await speech("Hello there, can you hear me?")
    flood_speech = (await speech("Tell me a story about the sea, please.")) + bytes(16000)
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    start = {"event": "start", "streamSid": "MZflood", "start": {
        "streamSid": "MZflood", "callSid": "CAflood", "accountSid": "AC1", "customParameters": {},
        "mediaFormat": fmt}}  # fmt: skip
    frames = _ulaw_messages(flood_speech, "MZflood")
    sent = 0
    async with websockets.connect(gw.ws_url + "/twilio/media", max_queue=None) as flooder:
        await flooder.send(json.dumps(start))
        await wait_for(lambda: len(gw.ctx.calls) == 1, timeout=5)

        async def flood() -> None:
            nonlocal sent
            loop = asyncio.get_running_loop()
            began = loop.time()
            while loop.time() - began < 12:  # about 50 times real time
                for message in frames[:50]:
                    await flooder.send(message)
                sent += 50
                frames.append(frames.pop(0))
                await asyncio.sleep(0.02)

        flooding = asyncio.create_task(flood())
        healthy = [TwilioCaller(gw.ws_url + "/twilio/media") for _ in range(2)]
        for caller in healthy:
            await caller.connect()
        await wait_for(lambda: len(gw.ctx.calls) == 3, timeout=5)
        calls = [c for c in gw.ctx.calls.values() if c.transport.stream_id != "MZflood"]
        events = [record_events(c) for c in calls]
        for caller in healthy:
            caller.say(question)
        try:
            await wait_for(lambda: all(c.log.played_ms(1) >= 500 for c in healthy), timeout=15)
        finally:
            flooding.cancel()
            await asyncio.gather(flooding, return_exceptions=True)
            for caller in healthy:
                await caller.hang_up()
    assert all(any(isinstance(e, Transcript) for e in es) for es in events)
    flooded = [c for c in gw.ctx.records.recent() if "CAflood" in c["aliases"]]
    assert flooded, "the flooding call was recorded"
    dropped = gw.ctx.metrics.inbound_dropped_ms.labels("twilio")._value.get()
    assert sent > 1000 and dropped > 0.8 * sent * 20


async def test_a_browser_page_cannot_place_a_twilio_call(gateway):
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(
            gateway.ws_url + "/twilio/media", origin="https://evil.example"
        ):
            pass
    assert refused.value.response.status_code == 403
    async with httpx.AsyncClient() as http:
        webhook = await http.post(
            gateway.base_url + "/twilio/voice", data={"CallSid": "CA1"},
            headers={"Origin": "https://evil.example"},
        )  # fmt: skip
        bad_host = await http.post(
            gateway.base_url + "/twilio/voice", data={"CallSid": "CA2"},
            headers={"X-Forwarded-Host": "["},
        )  # fmt: skip
        offer = await http.post(
            gateway.base_url + "/webrtc/offer", json={"sdp": "v=0"}, headers={"Origin": "http://["}
        )
    assert webhook.status_code == 403 and bad_host.status_code == 400
    assert offer.status_code == 403
    assert not gateway.ctx.calls
