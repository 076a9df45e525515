"""The outside audit's seven low findings, each reproduced here and now seeing
the fixed behaviour, with a healthy call beside the attack where a call is
involved: tool errors and forged log lines, an oversized model frame, TURN
credentials minted in bulk, a burnt stream token, offers without a DTLS
fingerprint, and STUN checks aimed by an offer's candidates."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import socket
import time

import httpx
import pytest

from gateway.observe import logs
from gateway.pipeline.tools import Tools
from gateway.testing.twilio_caller import TwilioCaller
from tests.fakes.openai_realtime import FakeRealtime
from tests.integration.helpers import only_call, wait_for
from tests.integration.test_realtime_voice import realtime
from tests.integration.test_twilio_webhook import PARAMS, TOKEN, sign, stream_of

pytestmark = pytest.mark.timeout(60)

FORGED = "2026-01-01 00:00:00,000 ERROR gateway.security call=tw-FORGED forged"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")


async def weather(city: str) -> dict:
    """The weather in a city."""
    return {"city": city, "sky": "clear"}


class LogCapture:
    """The gateway's own log format (`logs.configure`), written to a string."""

    def __init__(self) -> None:
        self.stream = io.StringIO()
        self.handler = logging.StreamHandler(self.stream)
        self.handler.addFilter(logs.CallIdFilter())
        self.handler.setFormatter(logs.EscapingFormatter(logs.FORMAT))

    def __enter__(self) -> LogCapture:
        logging.getLogger().addHandler(self.handler)
        return self

    def __exit__(self, *_) -> None:
        logging.getLogger().removeHandler(self.handler)

    def forged_lines(self) -> list[str]:
        """Lines that read as a record of call tw-FORGED: a timestamp, a level, a
        logger, then that call id in the call field."""
        return [
            line
            for line in self.stream.getvalue().splitlines()
            if RECORD_START.match(line) and line.split(" ")[4:5] == ["call=tw-FORGED"]
        ]


async def test_a_tool_argument_named_with_a_newline_forges_no_log_line():
    tools = Tools([weather])
    with LogCapture() as captured:
        args, result, error = await tools.run("weather", json.dumps({"\n" + FORGED: 1}))
        _, _, missing = await tools.run("weather\n" + FORGED, "{}")
    text = captured.stream.getvalue()
    assert error is not None and error.startswith("TypeError") and result is None
    assert missing is not None and "no tool named" in missing
    assert "tw-FORGED" in text  # it is logged, escaped, inside the real lines
    assert not any(line.startswith(FORGED[:19]) for line in text.splitlines()), text
    assert captured.forged_lines() == []


@pytest.mark.parametrize(
    "arguments",
    ["[" * 100_000, '{"a": ' + "[" * 5_000 + "]" * 5_000 + "}", json.dumps({"a": "x" * 200_000})],
    ids=["nested-100k", "nested-5k-in-object", "200k-characters"],
)
async def test_tool_arguments_too_deep_or_large_are_an_error_result_not_a_raise(arguments):
    args, result, error = await Tools([weather]).run("weather", arguments)
    assert args == {} and result is None
    assert error is not None and error.startswith("bad arguments")


async def test_a_raising_tool_of_any_kind_is_reported_to_the_model():
    async def deep(n: int) -> int:
        """Recurses without end."""
        return await deep(n + 1)

    async def greedy() -> None:
        """Runs out of memory."""
        raise MemoryError("no more")

    tools = Tools([deep, greedy])
    _, _, recursion = await tools.run("deep", '{"n": 0}')
    _, _, memory = await tools.run("greedy", "{}")
    assert recursion.startswith("RecursionError") and memory.startswith("MemoryError")


async def test_a_hostile_tool_call_over_a_real_call_reaches_the_model_as_an_error(
    gateway_factory, services, speech, monkeypatch
):
    """The audit's call: the model asks a tool with 100,000-deep arguments. The
    model gets a function_call_output, the failure is counted, the call goes on."""
    monkeypatch.setattr(services, "tools", Tools([weather]))
    async with FakeRealtime(speed=20, reply_ms=1000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            fake.next_tool_call = ("weather", "[" * 100_000)
            caller.say(await speech("What is the weather like?"))
            await wait_for(lambda: bool(session.function_outputs), timeout=15)
            output = json.loads(session.function_outputs[0]["output"])
            assert output["error"].startswith("bad arguments")
            failed = gw.ctx.metrics.voice_problems.labels("openai-realtime", "tool_failed")
            assert failed._value.get() == 1
            # The answer after the failed tool is still spoken.
            await wait_for(lambda: caller.log.played_ms(1) >= 900, timeout=15)
            assert call.end_reason is None


async def test_an_oversized_model_audio_event_is_skipped_and_counted(gateway_factory, speech):
    async with FakeRealtime(speed=20, reply_ms=1500) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            # 40 s of μ-law in one delta: ten times what a real delta could carry.
            huge = {"type": "response.output_audio.delta", "event_id": "e1",
                    "response_id": "r-none", "item_id": "i-none", "output_index": 0,
                    "content_index": 0, "delta": "/" * (430 * 1024)}  # fmt: skip
            await session.send_raw(json.dumps(huge))
            caller.say(await speech("Hello there, can you hear me?"))
            await wait_for(lambda: caller.log.played_ms(1) >= 1000, timeout=15)
            skipped = gw.ctx.metrics.voice_problems.labels("openai-realtime", "oversized")
            assert skipped._value.get() == 1
            assert call.end_reason is None


async def test_turn_credentials_are_short_lived_and_rate_limited(gateway_factory):
    gw = await gateway_factory(
        webrtc_turn_url="turn:127.0.0.1:3478", webrtc_turn_secret="s", webrtc_turn_per_minute=5
    )
    async with httpx.AsyncClient(base_url=gw.base_url) as http:
        answers = [await http.get("/webrtc/ice-servers") for _ in range(40)]
    granted = [a for a in answers if a.status_code == 200]
    assert len(granted) == 5
    assert {a.status_code for a in answers[5:]} == {429}
    username = granted[0].json()["iceServers"][0]["username"]
    assert int(username.split(":")[0]) - time.time() <= 300 + 2  # minutes, not an hour
    assert gw.ctx.metrics.turn_credentials._value.get() == 5


async def test_a_start_naming_another_callsid_does_not_burn_the_token(gateway_factory):
    gw = await gateway_factory(twilio_auth_token=TOKEN)
    url = gw.base_url + "/twilio/voice"
    async with httpx.AsyncClient() as http:
        signed = {"X-Twilio-Signature": sign(url, PARAMS)}
        response = await http.post(url, data=PARAMS, headers=signed)
    _, params = stream_of(response.text)
    media = gw.ws_url + "/twilio/media"
    async with TwilioCaller(media, token=params["sluice_token"], call_sid="CA-FORGED") as thief:
        await thief.wait_until(lambda: thief.closed, timeout=5)
        assert thief.close_code == 1008
    sid = PARAMS["CallSid"]
    async with TwilioCaller(media, token=params["sluice_token"], call_sid=sid) as real:
        call = await only_call(gw.ctx)
        await real.wait_until(lambda: real.log.played_ms(1) >= 500, timeout=10)
        assert not real.closed and call.end_reason is None


def _offer_without(fingerprint_line: str | None, offer: str) -> str:
    lines = [line for line in offer.splitlines() if not line.startswith("a=fingerprint:")]
    if fingerprint_line:
        media = next(i for i, line in enumerate(lines) if line.startswith("m="))
        lines.insert(media, fingerprint_line)
    return "\r\n".join(lines) + "\r\n"


async def _browser_offer(candidates: list[str] | None = None) -> str:
    """A real aiortc offer (what a browser sends), its candidates replaced if asked."""
    from aiortc import RTCPeerConnection

    pc = RTCPeerConnection()
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    if candidates is not None:
        lines = [line for line in sdp.splitlines() if not line.startswith("a=candidate")]
        at = next(i for i, line in enumerate(lines) if line.startswith("a=ice-pwd")) + 1
        lines[at:at] = candidates
        sdp = "\r\n".join(lines) + "\r\n"
    return sdp


@pytest.mark.parametrize("fingerprint", [None, "a=fingerprint:md5 00:11:22:33"])
async def test_an_offer_without_a_usable_fingerprint_is_refused_before_a_peer_connection(
    gateway_factory, caplog, fingerprint
):
    gw = await gateway_factory()
    offer = _offer_without(fingerprint, await _browser_offer())
    async with httpx.AsyncClient(base_url=gw.base_url) as http:
        answer = await http.post("/webrtc/whip", content=offer,
                                 headers={"content-type": "application/sdp"})  # fmt: skip
    assert answer.status_code == 400
    assert "fingerprint" in answer.text
    assert not gw.ctx.extensions.get("webrtc.sessions")  # no peer connection was built
    await asyncio.sleep(0.5)
    assert "Task exception was never retrieved" not in caplog.text


async def test_an_offers_candidates_aim_a_bounded_number_of_stun_checks(gateway_factory):
    """The audit aimed 20 candidates at one address and counted 100 STUN
    packets. Now at most `webrtc_max_candidates` (8) are probed, each with aioice's
    retransmissions within the connect deadline; one more candidate is refused."""
    # One sink per candidate: ICE checks each distinct address once, as the
    # audit's offer (20 candidates, 20 ports) made it.
    sinks = []
    for _ in range(9):
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        sink.setblocking(False)
        sinks.append(sink)
    ports = [s.getsockname()[1] for s in sinks]
    gw = await gateway_factory(webrtc_connect_timeout_s=4)
    candidate = "a=candidate:{n} 1 udp 2122260223 127.0.0.1 {port} typ host"
    too_many = await _browser_offer([candidate.format(n=n, port=p) for n, p in enumerate(ports)])
    allowed = await _browser_offer([candidate.format(n=n, port=p) for n, p in enumerate(ports[:8])])
    async with httpx.AsyncClient(base_url=gw.base_url) as http:
        refused = await http.post("/webrtc/whip", content=too_many,
                                  headers={"content-type": "application/sdp"})  # fmt: skip
        assert refused.status_code == 400 and "at most 8" in refused.text
        accepted = await http.post("/webrtc/whip", content=allowed,
                                   headers={"content-type": "application/sdp"})  # fmt: skip
        assert accepted.status_code == 201
    packets = bytes_in = 0
    probed: set[int] = set()
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        got = False
        for sink in sinks:
            try:
                data = sink.recv(2048)
            except BlockingIOError:
                continue
            got = True
            packets, bytes_in = packets + 1, bytes_in + len(data)
            probed.add(sink.getsockname()[1])
        if not got:
            await asyncio.sleep(0.02)
    for sink in sinks:
        sink.close()
    print(f"{packets} STUN packets to {len(probed)} addresses, {bytes_in} bytes, "
          f"for an offer of {len(allowed)} bytes")  # fmt: skip
    assert len(probed) == 8 and ports[8] not in probed  # every allowed one, none beyond
    assert packets <= 8 * 5
    assert bytes_in <= 4 * len(allowed)
