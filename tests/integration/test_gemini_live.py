"""Calls whose voice is Gemini Live, against the project's fake of the Live API:
the greeting, barge-in (activityStart, the model's audio stopped, the heard text
put into its context), a "hm" that resumes, a tool round trip, goAway handled by
session resumption with no gap, and bad frames counted without dropping the call."""

from __future__ import annotations

import asyncio

import pytest

from gateway.call.events import ToolCall
from gateway.call.turns import TurnPhase
from gateway.pipeline.tools import Tools
from gateway.testing import sounds
from gateway.testing.twilio_caller import TwilioCaller
from gateway.voice.gemini import context_note
from tests.fakes.gemini_live import FakeGeminiLive
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(60)

ASK = "Hello there, can you hear me? Please tell me a story."
LONG = " ".join(["The keeper climbed the stairs and lit the lamp again."] * 5)


def gemini(fake: FakeGeminiLive, **more) -> dict:
    return {
        "voice": "gemini-live",
        "gemini_live_url": fake.url,
        "gemini_api_key": "test-key",
        "gemini_live_model": "gemini-live-test",
        **more,
    }


async def test_the_greeting_is_heard_and_turn_taking_is_sluice_s(gateway_factory):
    async with FakeGeminiLive() as fake:
        gw = await gateway_factory(**gemini(fake, greeting="Welcome to the lighthouse."))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            await wait_for(listening_after(call, 1), timeout=20)
    setup = session.setup
    assert setup["model"] == "models/gemini-live-test"
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert "Welcome to the lighthouse." in session.context[0][1]
    assert call.records[1].text == "Welcome to the lighthouse."
    assert caller.log.played_ms(1) >= 4 * fake.word_ms - 100
    assert not fake.violations


async def test_barge_in_stops_the_model_and_puts_what_was_heard_in_its_context(
    gateway_factory, speech
):
    # Slow enough that the model is still generating when the caller cuts in.
    async with FakeGeminiLive(speed=2, reply_text=LONG) as fake:
        gw = await gateway_factory(**gemini(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 2000, timeout=20)
            assert call.turns.phase is TurnPhase.SPEAKING
            assert session.activity == ["start", "end"]
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(call.interrupts), timeout=10)
            interrupt = call.interrupts[-1]
            await wait_for(lambda: session.activity[2:3] == ["start"], timeout=5)
            await wait_for(lambda: bool(caller.clears), timeout=5)
            await asyncio.sleep(0.5)
            stale = caller.log.stale_ms(1, interrupt.at)
            # The barge-in's words are answered after it, in a turn of their own.
            await wait_for(lambda: call.turns.turn_id == 2, timeout=10)
    talk_over = 1000 * (interrupt.at - interrupt.speech_began_at)
    print(f"gemini barge-in: {stale:.1f} ms stale; talk-over {talk_over:.0f} ms")
    assert stale < 60, f"{stale:.1f} ms of the interrupted turn played after the interrupt"
    assert session.generations[0].status == "interrupted"
    note = context_note(interrupt.heard_text)
    assert ("user", note) in session.context
    # The note follows what the model kept of its answer, and says how little was heard.
    kept = session.context.index(("user", note)) - 1
    assert session.context[kept][0] == "model"
    heard_words = len(interrupt.heard_text.split())
    assert 0 < heard_words < len(session.context[kept][1].split())
    assert interrupt.heard_text and LONG.startswith(interrupt.heard_text.rstrip(".").split(" …")[0])
    assert not fake.violations


async def test_a_hm_pauses_and_resumes_and_the_model_never_hears_it(gateway_factory, speech):
    hm = await sounds.short_hm()
    async with FakeGeminiLive(speed=3, reply_text=LONG[:200]) as fake:
        gw = await gateway_factory(**gemini(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 1500, timeout=20)
            caller.say(hm)
            await wait_for(lambda: bool(call.core.backchannels), timeout=5)
            await wait_for(listening_after(call, 1), timeout=20)
            await asyncio.sleep(1.0)
    assert caller.clears and not call.interrupts
    assert session.activity == ["start", "end"], "the hm never reached the model"
    assert session.ignored_audio_ms == 0, "no audio outside an activity"
    assert len(session.generations) == 1 and session.generations[0].status == "completed"
    played, produced = caller.log.played_ms(1), call.records[1].produced_ms
    assert abs(played - produced) <= 100, (played, produced)
    assert not fake.violations


async def weather(city: str) -> dict:
    """The weather in a city."""
    return {"city": city, "sky": "clear", "celsius": 21}


async def test_a_tool_call_round_trip(gateway_factory, services, speech, monkeypatch):
    monkeypatch.setattr(services, "tools", Tools([weather]))
    async with FakeGeminiLive() as fake:
        gw = await gateway_factory(**gemini(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            events = record_events(call)
            session = await fake.session(0)
            declared = session.setup["tools"][0]["functionDeclarations"]
            assert [d["name"] for d in declared] == [
                "weather",
                "end_call",
            ]  # end_call: always offered
            assert declared[0]["parameters"]["required"] == ["city"]
            fake.next_tool_call = ("weather", {"city": "Oslo"})
            caller.say(await speech(ASK))
            await wait_for(lambda: bool(session.tool_responses), timeout=15)
            await wait_for(listening_after(call, 1), timeout=15)
    response = session.tool_responses[0]
    assert response["name"] == "weather"
    assert response["response"] == {"city": "Oslo", "sky": "clear", "celsius": 21}
    shown = [e for e in events if isinstance(e, ToolCall)]
    assert shown and shown[0].arguments == {"city": "Oslo"}
    # The answer after the tool is spoken in the same turn.
    assert caller.log.played_ms(1) >= 1000
    assert not fake.violations


async def test_go_away_resumes_the_session_with_no_gap(gateway_factory, speech):
    async with FakeGeminiLive(speed=3, reply_text=LONG) as fake:
        gw = await gateway_factory(**gemini(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            first = await fake.session(0)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 1000, timeout=20)
            await fake.go_away(first, 8.0)
            second = await fake.session(1, timeout=10)
            await wait_for(listening_after(call, 1), timeout=30)
            caller.say(await speech("And then what happened?"))
            await wait_for(lambda: caller.log.played_ms(2) >= 1000, timeout=20)
    assert second.resumed_from is not None
    assert any(role == "model" for role, _ in second.context), "the context came with it"
    assert first.generations[0].status == "completed", "the reply was not cut by the move"
    assert call.underruns == 0 and caller.log.underruns(1)[0] == 0
    assert call.voice.connections == 2
    assert not fake.violations


async def test_bad_frames_are_counted_and_the_call_goes_on(gateway_factory, speech):
    async with FakeGeminiLive() as fake:
        fake.garbage_after_chunks = 3
        gw = await gateway_factory(**gemini(fake, greeting=""))
        bad = gw.ctx.metrics.voice_problems.labels("gemini-live", "bad_event")
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            caller.say(await speech(ASK))
            await wait_for(listening_after(call, 1), timeout=20)
            assert not caller.closed
    assert bad._value.get() == 4
    assert not fake.violations
    assert caller.log.played_ms(1) >= len(fake.reply_text.split()) * fake.word_ms - 200
