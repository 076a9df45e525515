"""WebRTC with a real aiortc peer on loopback: pacing, cushion, barge-in, bad input."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection

from gateway.call.turns import TurnPhase
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import only_call, wait_for
from transports.webrtc.signalling import sessions as webrtc_sessions

pytestmark = pytest.mark.timeout(60)

LOOPBACK = {"webrtc_host_addresses": "127.0.0.1", "vad_min_silence_ms": 500}


async def test_agent_audio_arrives_at_real_time_pace_and_the_cushion_holds(gateway_factory):
    gw = await gateway_factory(**LOOPBACK)
    async with WebRtcCaller(gw.base_url) as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: call.turns.phase is TurnPhase.SPEAKING, timeout=10)
        await asyncio.sleep(2.0)
        frames_2s_start = caller.received_frames
        await asyncio.sleep(1.0)
        rate = caller.received_frames - frames_2s_start
        session = next(iter(webrtc_sessions(gw.ctx).values()))
        assert session.pacer.buffered_ms <= gw.settings.webrtc_cushion_ms
    assert 45 <= rate <= 55, f"{rate} frames in one second"
    assert call.flow.window.peak_in_flight_ms <= gw.settings.webrtc_cushion_ms
    assert caller.max_gap_ms < 100
    assert caller.log.played_ms(1) > 1500


async def test_barge_in_stops_the_old_turn_fast(gateway_factory, speech):
    gw = await gateway_factory(**LOOPBACK)
    async with WebRtcCaller(gw.base_url) as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(
            lambda: call.turns.turn_id == 1 and call.turns.phase is TurnPhase.LISTENING, 15
        )
        caller.say(await speech("Please tell me a long story."))
        await wait_for(lambda: call.turns.turn_id == 2, timeout=15)
        await wait_for(lambda: call.turns.phase is TurnPhase.SPEAKING, timeout=10)
        await asyncio.sleep(1.5)
        caller.say(await speech("Stop. Wait a moment."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        interrupt = call.interrupts[-1]
        await asyncio.sleep(0.6)
    stale = caller.voiced_after(interrupt.at)
    talk_over = (caller.last_voiced_end() - caller.first_voiced_sent) * 1000
    assert interrupt.cancelled_work
    assert stale < 150, f"{stale:.0f} ms of the old turn played after the interrupt"
    reaction = (interrupt.at - caller.first_voiced_sent) * 1000
    print(f"stale {stale:.0f} ms, talk-over {talk_over:.0f} ms, reaction {reaction:.0f} ms")
    assert talk_over < 300, f"talk-over {talk_over:.0f} ms (barge-in reaction {reaction:.0f} ms)"


async def test_a_malformed_offer_gets_400_and_no_slot_is_lost(gateway_factory):
    gw = await gateway_factory(**LOOPBACK)
    async with httpx.AsyncClient() as http:
        for body in ["v=0\r\nthis is not sdp", "", "m=audio 9 UDP/TLS/RTP/SAVPF 111\r\n" * 50]:
            r = await http.post(gw.base_url + "/webrtc/offer", json={"sdp": body, "type": "offer"})
            assert r.status_code == 400 and r.json()["error"] == "bad_offer"
        json_type = {"content-type": "application/json"}
        r = await http.post(gw.base_url + "/webrtc/offer", content=b"{nope", headers=json_type)
        assert r.status_code == 400
        # A cross-site "simple" POST (text/plain, no preflight) is refused unread.
        r = await http.post(gw.base_url + "/webrtc/offer", content=b'{"sdp": "v=0"}')
        assert r.status_code == 415
        r = await http.post(
            gw.base_url + "/webrtc/whip",
            content=b"\xff\xfe",
            headers={"content-type": "application/sdp"},
        )
        assert r.status_code == 400
    assert gw.ctx.active_calls == 0


async def test_an_offer_without_audio_is_refused(gateway_factory):
    gw = await gateway_factory(**LOOPBACK)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("only-data")
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient() as http:
        r = await http.post(
            gw.base_url + "/webrtc/offer", json={"sdp": pc.localDescription.sdp, "type": "offer"}
        )
    await pc.close()
    assert r.status_code == 400 and "no audio" in r.json()["detail"]
    assert gw.ctx.active_calls == 0


async def test_whip_offer_answer_and_delete(gateway_factory):
    gw = await gateway_factory(**LOOPBACK)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    async with httpx.AsyncClient() as http:
        r = await http.post(
            gw.base_url + "/webrtc/whip",
            content=pc.localDescription.sdp,
            headers={"content-type": "application/sdp"},
        )
        assert r.status_code == 201 and r.headers["content-type"].startswith("application/sdp")
        assert "a=candidate" in r.text and "127.0.0.1" in r.text
        resource = r.headers["location"]
        assert (await http.delete(gw.base_url + resource)).status_code == 200
        await wait_for(lambda: not webrtc_sessions(gw.ctx), timeout=5)
        assert (await http.delete(gw.base_url + resource)).status_code == 404
        assert (await http.delete(gw.base_url + "/webrtc/whip/nope")).status_code == 404
    await pc.close()
    assert gw.ctx.active_calls == 0


async def test_peers_that_vanish_are_cleaned_up_with_no_leak(gateway_factory):
    gw = await gateway_factory(**LOOPBACK, webrtc_media_timeout_s=1.0)
    baseline = len(asyncio.all_tasks())
    gateway_pcs = []
    for _ in range(50 // 10):
        callers = [WebRtcCaller(gw.base_url) for _ in range(10)]
        await asyncio.gather(*(c.connect() for c in callers))
        await wait_for(lambda: len(gw.ctx.calls) == 10, timeout=10)
        # Mid-call (connected), then gone: no DELETE, no bye, no ICE goodbye.
        await wait_for(lambda cs=callers: all(c.connected for c in cs), timeout=10)
        gateway_pcs += [s.pc for s in webrtc_sessions(gw.ctx).values()]
        await asyncio.gather(*(c.hang_up(delete=False) for c in callers))
        await wait_for(lambda: not webrtc_sessions(gw.ctx) and not gw.ctx.calls, timeout=10)
    assert gw.ctx.active_calls == 0
    assert len(gateway_pcs) == 50 and all(pc.connectionState == "closed" for pc in gateway_pcs)

    def leftover() -> list[asyncio.Task]:
        return [t for t in asyncio.all_tasks() if not t.done()]

    try:
        await wait_for(lambda: len(leftover()) <= baseline + 2, timeout=5)
    except TimeoutError:
        pytest.fail(f"tasks leaked: {sorted({str(t.get_coro())[:70] for t in leftover()})}")


def record_loud_arrivals(call) -> list[float]:
    """Wrap the call's inbound audio to see when voiced caller frames reach the VAD."""
    import time

    import numpy as np

    arrivals: list[float] = []
    original = call.on_audio

    async def on_audio(pcm: bytes) -> None:
        if np.abs(np.frombuffer(pcm, dtype=np.int16).astype(np.int32)).max() > 300:
            arrivals.append(time.monotonic())
        await original(pcm)

    call.on_audio = on_audio
    return arrivals


async def test_mic_to_vad_delay_is_small_and_returns_to_normal_after_loss(gateway_factory, speech):
    gw = await gateway_factory(**LOOPBACK)
    async with WebRtcCaller(gw.base_url) as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: caller.connected, timeout=10)
        session = next(iter(webrtc_sessions(gw.ctx).values()))
        arrivals = record_loud_arrivals(call)
        word = await speech("Hello.")

        async def delay_of_one_word() -> float:
            arrivals.clear()
            caller.say(word)
            await wait_for(lambda: bool(arrivals) and caller.first_voiced_sent, timeout=5)
            delay = (arrivals[0] - caller.first_voiced_sent) * 1000
            await asyncio.sleep(1.0)
            return delay

        clean = await delay_of_one_word()
        # Lose one packet on the way in, as a bad network would.
        jitter = session.jitter
        original_add = jitter.add
        dropped = []

        def lossy_add(sequence, payload):
            if not dropped:
                dropped.append(sequence)
                return []
            return original_add(sequence, payload)

        jitter.add = lossy_add
        await asyncio.sleep(0.5)
        assert dropped and jitter.lost >= 1
        after_loss = await delay_of_one_word()
    # aiortc's own buffer would hold every frame 80 ms, and about 280 ms after a loss.
    assert clean < 60, f"mic to VAD {clean:.0f} ms on a clean path"
    assert after_loss < 60, f"mic to VAD {after_loss:.0f} ms after a loss"
    assert jitter.held == 0


async def test_the_heard_position_allows_for_the_measured_network_delay(gateway_factory):
    """Through a relay adding 50 ms each way, the RTCP round trip (about 100 ms)
    moves the playout estimate back by half of it."""
    from gateway.compare.profiles import Profile
    from gateway.compare.relay import sdp_through_relay

    gw = await gateway_factory(**LOOPBACK)
    relays = []
    profile = Profile("test", delay_ms=50)
    caller = WebRtcCaller(
        gw.base_url,
        rewrite_answer=sdp_through_relay(profile, relays),
        rewrite_offer=sdp_through_relay(profile, relays),
    )
    try:
        await caller.connect()
        await only_call(gw.ctx, timeout=10)
        session = next(iter(webrtc_sessions(gw.ctx).values()))
        await wait_for(lambda: session.network_delay_s > 0, timeout=15)
        assert 0.04 <= session.network_delay_s <= 0.08, session.network_delay_s
    finally:
        await caller.hang_up()
        for relay in relays:
            await relay.stop()
