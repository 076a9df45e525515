"""A ConversationRelay app behind Sluice (`agent = "relay"`): the tutorial-shaped
example answers on Twilio, the browser WebSocket and WebRTC; a barge-in sends
it one `interrupt` with what the caller heard; its `end` hangs up after the
goodbye is heard; a socket that sends garbage, closes or never opens ends its
own call with the apology, beside a healthy call."""

from __future__ import annotations

import asyncio
import time

import pytest
from relay_agent import app, received, sessions

from gateway.relay.agent import BAD_IN_A_ROW
from gateway.relay.sounds import DIGIT_MS, GAP_MS
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import listening_after, only_call, wait_for
from tests.integration.relay_servers import TONE_S, ScriptedRelay, clips, free_port, served

pytestmark = pytest.mark.timeout(90)


def caller_for(kind: str, gw):
    if kind == "twilio":
        return TwilioCaller(gw.ws_url + "/twilio/media")
    if kind == "webrtc":
        return WebRtcCaller(gw.base_url)
    return BrowserCaller(gw.ws_url + "/browser/ws")


def heard_of_reply(caller, since: float) -> int:
    """Milliseconds of the reply the caller played. Twilio's marks and the
    browser's turn ids name the turn's frames; a WebRTC track has neither, so
    there it is the span from the reply's first voiced frame to its last."""
    if not isinstance(caller, WebRtcCaller):
        return caller.log.played_ms(2)
    voiced = [f for f in caller.log.frames if f.source is not None and f.at >= since]
    return round((voiced[-1].at - voiced[0].at) * 1000) + 20 if voiced else 0


def messages(call_id: str, kind: str) -> list[dict]:
    return [m for m in received.get(call_id, []) if m["type"] == kind]


def same_within_a_word(said: str, expected: str) -> bool:
    a, b = said.split(), expected.split()
    shorter, longer = sorted((a, b), key=len)
    return len(longer) - len(shorter) <= 1 and longer[: len(shorter)] == shorter


@pytest.mark.parametrize("kind", ["twilio", "browser", "webrtc"])
async def test_the_tutorial_app_answers_and_hears_what_the_caller_heard(
    gateway_factory, speech, kind
):
    async with served(app) as url:
        gw = await gateway_factory(
            agent="relay", agent_relay_url=url, webrtc_host_addresses="127.0.0.1"
        )
        async with caller_for(kind, gw) as caller:
            call = await only_call(gw.ctx, timeout=10)
            await wait_for(lambda: bool(messages(call.call_id, "setup")), timeout=10)
            assert sessions[call.call_id][0]["role"] == "system"
            await wait_for(listening_after(call, 1), timeout=20)

            since = time.monotonic()
            caller.say(await speech("Please tell me a long story."))
            await wait_for(lambda: heard_of_reply(caller, since) >= 2500, timeout=30)
            prompts = messages(call.call_id, "prompt")
            assert len(prompts) == 1 and "story" in prompts[0]["voicePrompt"].lower()
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(messages(call.call_id, "interrupt")), timeout=10)
            await asyncio.sleep(0.5)  # the far end has stopped; what it played is final
            played = heard_of_reply(caller, since)
            record = call.records[2]
            # The next prompt is answered, and the cut story stays cut.
            await wait_for(lambda: len(messages(call.call_id, "prompt")) >= 2, timeout=20)
    interrupts = messages(call.call_id, "interrupt")
    assert len(interrupts) == 1
    assert gw.ctx.metrics.interrupts.labels(call.kind)._value.get() == 1
    heard = interrupts[0]
    print(kind, "caller played", played, "ms; interrupt says", heard["durationUntilInterruptMs"])
    assert abs(heard["durationUntilInterruptMs"] - played) <= 100
    assert same_within_a_word(heard["utteranceUntilInterrupt"], record.heard_text(played))
    assert len(heard["utteranceUntilInterrupt"]) < len(record.text)
    # The app kept only what was heard (the tutorial's own handling).
    assistant = [m for m in sessions.get(call.call_id, []) if m["role"] == "assistant"]
    assert not assistant or heard["utteranceUntilInterrupt"] in [m["content"] for m in assistant]


async def test_end_hangs_up_after_the_goodbye_is_heard(gateway_factory, speech):
    async with served(app) as url:
        gw = await gateway_factory(agent="relay", agent_relay_url=url)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx, timeout=10)
            await wait_for(listening_after(call, 1), timeout=20)
            caller.say(await speech("Goodbye."))
            await wait_for(lambda: call.end_reason is not None, timeout=30)
    goodbye = call.records[2]
    assert call.end_reason == "agent ended"
    assert "thank you for calling" in goodbye.text.lower()
    # Ended after the far end confirmed the whole goodbye played, not when sent.
    assert caller.log.played_ms(2) >= goodbye.produced_ms - 20


async def test_a_key_is_answered_unprompted(gateway_factory):
    async with served(app) as url:
        gw = await gateway_factory(agent="relay", agent_relay_url=url)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx, timeout=10)
            await wait_for(listening_after(call, 1), timeout=20)
            await caller.send_dtmf("5")
            await wait_for(lambda: 2 in call.records and call.records[2].text, timeout=10)
            await wait_for(listening_after(call, 2), timeout=20)
    assert messages(call.call_id, "dtmf") == [{"type": "dtmf", "digit": "5"}]
    assert call.records[2].text == "You pressed 5."
    assert caller.log.played_ms(2) > 500


@pytest.mark.parametrize("mode,kind,count", [("garbage", "bad_message", 10), ("drop", "closed", 1)])
async def test_a_misbehaving_socket_ends_its_call_beside_a_healthy_one(
    gateway_factory, speech, mode, kind, count
):
    relay = ScriptedRelay("healthy", mode)
    async with relay.running():
        gw = await gateway_factory(agent="relay", agent_relay_url=relay.url)
        problems = gw.ctx.metrics.relay_problems.labels(kind)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as healthy:
            first = await only_call(gw.ctx, timeout=10)
            await wait_for(listening_after(first, 1), timeout=20)
            async with TwilioCaller(gw.ws_url + "/twilio/media") as broken:
                await wait_for(lambda: len(gw.ctx.calls) == 2, timeout=10)
                second = next(c for c in gw.ctx.calls.values() if c is not first)
                await wait_for(lambda: broken.closed, timeout=30)
            heard = sum(f.ms for f in broken.log.frames if f.source is not None)
            assert heard >= 500, "the caller heard the apology"
            healthy.say(await speech("How are you?"))
            await wait_for(lambda: first.records.get(2) and first.records[2].text, timeout=20)
            assert "thank you" in first.records[2].text.lower()
            assert not healthy.closed
    assert problems._value.get() == count
    assert second.end_reason == "voice failed"
    if mode == "garbage":
        # Each bad message is answered with an error, as Twilio does, until the last.
        errors = [m for m in relay.received[1] if m["type"] == "error"]
        assert len(errors) == BAD_IN_A_ROW - 1
        assert errors[0]["description"].startswith("Invalid message: not JSON")


async def test_a_socket_that_never_opens_ends_the_call_with_the_apology(gateway_factory):
    gw = await gateway_factory(agent="relay", agent_relay_url=f"ws://127.0.0.1:{free_port()}/ws")
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: caller.closed, timeout=30)
    assert call.end_reason == "voice failed"
    assert gw.ctx.metrics.relay_problems.labels("open")._value.get() == 1


async def test_text_that_is_not_interruptible_plays_whole_and_the_caller_is_answered_after(
    gateway_factory, speech
):
    relay = ScriptedRelay("protected")
    async with relay.running():
        gw = await gateway_factory(agent="relay", agent_relay_url=relay.url)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx, timeout=10)
            await wait_for(listening_after(call, 1), timeout=20)
            caller.say(await speech("What are my options?"))
            await wait_for(lambda: caller.log.played_ms(2) >= 1500, timeout=20)
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(listening_after(call, 2), timeout=30)
            await wait_for(lambda: 3 in call.records and call.records[3].text, timeout=20)
    assert not call.interrupts, "the notice was not cut"
    assert caller.log.played_ms(2) >= call.records[2].produced_ms - 20
    prompts = [m for m in relay.received[0] if m["type"] == "prompt"]
    assert "wait" in prompts[1]["voicePrompt"].lower(), "what was said over it is answered"
    assert not [m for m in relay.received[0] if m["type"] == "interrupt"]


async def test_a_played_file_and_key_tones_are_spoken_in_the_reply(gateway_factory, speech):
    async with served(clips) as url:
        relay = ScriptedRelay("jingle", clip_url=url.replace("ws://", "http://")[:-3] + "/tone.wav")
        async with relay.running():
            gw = await gateway_factory(agent="relay", agent_relay_url=relay.url)
            async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
                call = await only_call(gw.ctx, timeout=10)
                await wait_for(listening_after(call, 1), timeout=20)
                caller.say(await speech("Play me something."))
                await wait_for(listening_after(call, 2), timeout=30)
    tones_ms = 2 * (DIGIT_MS + GAP_MS)
    record = call.records[2]
    assert record.text == "Here is a tune."
    spoken = record.spans[0].end_ms - record.spans[0].start_ms
    assert abs(record.produced_ms - spoken - TONE_S * 1000 - tones_ms) <= 40
    assert caller.log.played_ms(2) >= record.produced_ms - 20
    assert gw.ctx.metrics.relay_problems.labels("play")._value.get() == 0


async def test_a_preemptible_hold_message_is_cut_by_the_answer(gateway_factory, speech):
    relay = ScriptedRelay("preempt")
    async with relay.running():
        gw = await gateway_factory(agent="relay", agent_relay_url=relay.url)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx, timeout=10)
            await wait_for(listening_after(call, 1), timeout=20)
            caller.say(await speech("When is the lamp lit?"))
            await wait_for(listening_after(call, 3), timeout=30)
    hold, found = call.records[2], call.records[3]
    assert found.text.startswith("I found it")
    assert caller.log.played_ms(2) < hold.produced_ms - 500, "the hold message was cut"
    assert caller.log.played_ms(3) >= found.produced_ms - 20
    assert not call.interrupts, "not the caller's barge-in"
    assert gw.ctx.metrics.interrupts.labels("twilio")._value.get() == 0
    assert not [m for m in relay.received[0] if m["type"] == "interrupt"]
