"""Calls whose voice is OpenAI Realtime, against the project's faithful fake of
the GA server: greeting, a reply, barge-in with cancel and truncate at the
heard position, a model far faster than real time, and a model that breaks."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from gateway.call.events import ToolCall
from gateway.call.turns import TurnPhase
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
from tests.fakes.openai_realtime import FakeRealtime
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(60)

ASK = "Hello there, can you hear me? Please tell me a story."


def realtime(fake: FakeRealtime, **more) -> dict:
    return {
        "voice": "openai-realtime",
        "openai_realtime_url": fake.url,
        "openai_api_key": "test-key",
        "openai_realtime_model": "gpt-realtime",
        **more,
    }


async def test_a_twilio_call_speaks_with_the_model_in_mulaw_end_to_end(gateway_factory, speech):
    async with FakeRealtime(speed=20, reply_ms=1500) as fake:
        gw = await gateway_factory(**realtime(fake))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            await wait_for(listening_after(call, 1), timeout=15)
            assert session.authorization == "Bearer test-key"
            assert session.model == "gpt-realtime"
            audio = session.session_config["audio"]
            assert audio["input"]["format"] == {"type": "audio/pcmu"}
            assert audio["output"]["format"] == {"type": "audio/pcmu"}
            greeting = session.responses[0]
            assert greeting.trigger == "client"
            assert gw.settings.greeting in greeting.params["instructions"]
            assert caller.log.played_ms(1) >= 1480

            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(2) >= 1480, timeout=20)
            assert session.input_ms > 2000, "the caller's audio reaches the model"
            assert [r.trigger for r in session.responses] == ["client", "client"]
            assert not session.errors_sent
            assert caller.log.underruns(2)[0] == 0


async def test_a_browser_call_speaks_with_the_model_in_pcm_24k(gateway_factory, speech):
    async with FakeRealtime(speed=20, reply_ms=1500) as fake:
        gw = await gateway_factory(**realtime(fake))
        async with BrowserCaller(gw.ws_url + "/browser/ws") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            await wait_for(listening_after(call, 1), timeout=15)
            fmt = session.session_config["audio"]["output"]["format"]
            assert fmt == {"type": "audio/pcm", "rate": 24000}
            assert caller.log.played_ms(1) >= 1400

            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(2) >= 1400, timeout=20)
            assert session.input_ms > 2000
            assert not session.errors_sent


async def test_barge_in_cancels_the_response_and_truncates_at_what_the_caller_heard(
    gateway_factory, speech
):
    # Slow enough that the response is still being generated when the caller cuts in.
    async with FakeRealtime(speed=3, reply_ms=30_000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 2000, timeout=20)
            assert call.turns.phase is TurnPhase.SPEAKING
            sent: list[tuple[float, int]] = []
            original = call.transport.send_audio

            async def send_audio(chunk):
                await original(chunk)
                sent.append((time.monotonic(), chunk.turn_id))

            call.transport.send_audio = send_audio
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(call.interrupts), timeout=10)
            interrupt = call.interrupts[-1]
            await wait_for(lambda: bool(session.truncations), timeout=5)
            await wait_for(lambda: bool(caller.clears), timeout=5)
            await asyncio.sleep(0.5)

            assert session.cancels == 1
            assert session.client_events_of("response.cancel")
            truncation = session.truncations[-1]
            played = caller.log.played_ms(1)
            assert abs(truncation["audio_end_ms"] - played) <= 40, (truncation, played)
            assert truncation["audio_end_ms"] <= truncation["audio_sent_ms"]
            stale = caller.log.stale_ms(1, interrupt.at)
            assert stale < 60, f"{stale:.1f} ms of the interrupted turn played after the interrupt"
            assert not [t for t, turn in sent if turn == 1 and t > interrupt.at]
            talk_over = 1000 * (interrupt.at - interrupt.speech_began_at)
            print(
                f"truncate at {truncation['audio_end_ms']} ms; caller played {played} ms;"
                f" {stale:.1f} ms stale; talk-over {talk_over:.0f} ms"
            )
            assert not session.errors_sent, session.errors_sent
            cancelled = session.responses[0]
            assert cancelled.status == "cancelled"


async def test_a_model_20x_faster_than_real_time_stays_within_the_buffers(gateway_factory, speech):
    async with FakeRealtime(speed=20, reply_ms=20_000) as fake:
        gw = await gateway_factory(
            **realtime(fake, greeting="", openai_realtime_buffer_ms=2000, twilio_window_ms=400)
        )
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 4000, timeout=20)
            voice = call.voice
            assert voice.held.peak_ms <= 2000
            assert voice.held.buffered_ms >= 1000, "the model ran ahead and waits in the buffer"
            assert call.queue.peak_ms <= gw.settings.output_queue_ms
            assert caller.peak_buffered_ms <= 400 + 20
            assert caller.log.underruns(1)[0] == 0


async def test_a_model_connection_dropped_mid_reply_apologises_and_ends_only_that_call(
    gateway_factory, speech
):
    async with FakeRealtime(speed=2, reply_ms=10_000) as fake:
        gw = await gateway_factory(**realtime(fake))
        async with (
            TwilioCaller(gw.ws_url + "/twilio/media") as broken,
            TwilioCaller(gw.ws_url + "/twilio/media") as other,
        ):
            await wait_for(lambda: len(gw.ctx.calls) == 2, timeout=5)
            await fake.session(1)
            await wait_for(lambda: broken.log.played_ms(1) > 0, timeout=10)
            await wait_for(lambda: other.log.played_ms(1) > 0, timeout=10)
            fake.drop_after_deltas = fake.sessions[0].responses[0].audio_deltas + 2
            await wait_for(lambda: broken.closed or other.closed, timeout=15)
            dead = broken if broken.closed else other
            alive = other if dead is broken else broken
            # The dead call heard an apology (a new turn) before it ended cleanly.
            assert 2 in dead.log.turns()
            assert dead.close_code == 1000
            before = alive.log.played_ms(1)
            await asyncio.sleep(1.0)
            assert alive.log.played_ms(1) > before + 800, "the other call plays on"
            assert not alive.closed
        text = await gw_metrics(gw)
        assert 'sluice_voice_failures_total{transport="twilio",voice="openai-realtime"} 1.0' in text


async def test_malformed_model_events_are_skipped_and_the_call_goes_on(gateway_factory, speech):
    async with FakeRealtime(speed=20, reply_ms=1500) as fake:
        fake.garbage_after_deltas = 3
        gw = await gateway_factory(**realtime(fake))
        async with (
            TwilioCaller(gw.ws_url + "/twilio/media") as caller,
            TwilioCaller(gw.ws_url + "/twilio/media") as beside,
        ):
            await wait_for(lambda: len(gw.ctx.calls) == 2, timeout=5)
            calls = list(gw.ctx.calls.values())
            await wait_for(lambda: all(listening_after(c, 1)() for c in calls), timeout=15)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(2) >= 1400, timeout=20)
            # Each reply carries a non-JSON frame, a bad base64 delta and a delta
            # missing its fields (the unknown event type is quietly ignored).
            assert sum(c.voice.bad_events for c in calls) >= 9
            assert beside.log.played_ms(1) >= 1400 and beside.log.underruns(1)[0] == 0
            assert caller.log.underruns(2)[0] == 0
            assert not caller.closed and not beside.closed
        text = await gw_metrics(gw)
        assert 'sluice_voice_problems_total{kind="bad_event",voice="openai-realtime"}' in text


async def weather(city: str) -> dict:
    """The weather in a city."""
    return {"city": city, "sky": "clear", "celsius": 21}


TOOLS = [weather]


async def test_a_tool_call_round_trip(gateway_factory, services, speech, monkeypatch):
    from gateway.pipeline.tools import Tools

    monkeypatch.setattr(services, "tools", Tools(TOOLS))
    async with FakeRealtime(speed=20, reply_ms=1000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            events = record_events(call)
            session = await fake.session(0)
            tools = session.session_config["tools"]
            assert [t["name"] for t in tools] == ["weather", "end_call"]  # end_call: always offered
            assert tools[0]["parameters"]["required"] == ["city"]
            fake.next_tool_call = ("weather", json.dumps({"city": "Oslo"}))
            caller.say(await speech(ASK))
            await wait_for(lambda: bool(session.function_outputs), timeout=15)
            output = json.loads(session.function_outputs[0]["output"])
            assert output == {"city": "Oslo", "sky": "clear", "celsius": 21}
            # The answer after the tool is spoken in the same turn.
            await wait_for(lambda: caller.log.played_ms(1) >= 900, timeout=15)
            shown = [e for e in events if isinstance(e, ToolCall)]
            assert shown and shown[0].name == "weather" and shown[0].arguments == {"city": "Oslo"}
            assert len(session.responses) == 2 and not session.errors_sent


async def test_dtmf_reaches_the_model_as_a_conversation_item(gateway_factory):
    async with FakeRealtime(speed=20, reply_ms=500) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            await only_call(gw.ctx)
            session = await fake.session(0)
            await caller.send_dtmf("5")
            await session.wait_for(lambda: session.client_events_of("conversation.item.create"))
            item = session.client_events_of("conversation.item.create")[0]["item"]
            assert item["role"] == "user" and "5" in item["content"][0]["text"]
            await wait_for(lambda: caller.log.played_ms(1) >= 480, timeout=10)


async def gw_metrics(gw) -> str:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(gw.base_url + "/metrics")).text


async def test_a_model_that_refuses_the_key_gets_an_apology_and_a_clean_end(gateway_factory):
    async with FakeRealtime(api_key="the-right-key") as fake:
        gw = await gateway_factory(**realtime(fake))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            await wait_for(lambda: caller.closed, timeout=15)
            assert caller.close_code == 1000
            assert caller.log.played_ms(2) > 500, "the apology was heard"
            assert fake.rejected and fake.rejected[0]["status"] == 401
        text = await gw_metrics(gw)
        problem = 'sluice_voice_problems_total{kind="connect_failed",voice="openai-realtime"} 1.0'
        assert problem in text
        assert 'reason="voice failed",transport="twilio"} 1.0' in text


async def test_a_barge_in_after_the_model_finished_still_truncates_without_a_cancel(
    gateway_factory, speech
):
    # The model sent the whole reply long ago; the caller has heard only part of it.
    async with FakeRealtime(speed=20, reply_ms=6000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            session = await fake.session(0)
            caller.say(await speech(ASK))
            await wait_for(lambda: caller.log.played_ms(1) >= 2000, timeout=20)
            assert session.responses[0].status == "completed"
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(session.truncations), timeout=10)
            await wait_for(lambda: bool(caller.clears), timeout=5)
            await asyncio.sleep(0.3)
            truncation = session.truncations[-1]
            assert abs(truncation["audio_end_ms"] - caller.log.played_ms(1)) <= 40
            assert not session.client_events_of("response.cancel")
            assert not session.errors_sent
            assert call.interrupts


async def test_a_hm_over_the_model_pauses_and_resumes_without_cancel_or_truncate(
    gateway_factory, speech
):
    from gateway.testing import sounds

    hm = await sounds.short_hm()
    async with FakeRealtime(speed=3, reply_ms=5000) as fake:
        gw = await gateway_factory(**realtime(fake, greeting=""))
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
        assert session.cancels == 0 and not session.truncations
        assert len(session.responses) == 1, "the hm gets no response of its own"
        played, produced = caller.log.played_ms(1), call.records[1].produced_ms
        assert abs(played - produced) <= 100, (played, produced)
        assert not session.errors_sent, session.errors_sent
