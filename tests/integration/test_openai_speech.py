"""The cascade with hosted or self-hosted speech: OpenAI-compatible TTS and STT,
against a local fake of both endpoints."""

from __future__ import annotations

import pytest

from gateway.call.events import Transcript
from gateway.call.turns import TurnPhase
from gateway.pipeline.agent import OfflineAgent
from gateway.pipeline.openai_speech import OpenAIStt, OpenAITts
from gateway.runtime.services import Services
from gateway.testing.twilio_caller import TwilioCaller
from tests.fakes.openai_speech import fake_speech_app, serve_app
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(60)


class LongWinded:
    """Answers anything with one long sentence: 16 s of speech at 60 ms a character."""

    async def reply(self, history, on_tool=None):
        yield "Well, " + "this is a very long answer that goes on and on, " * 5 + "and ends."


async def test_a_call_speaks_through_an_openai_compatible_tts(gateway_factory, services, speech):
    # Twice as fast as real time, as a hosted TTS streams: a long sentence is still
    # arriving while its start plays.
    app = fake_speech_app(ms_per_char=60, chunk_interval_s=0.05)
    async with serve_app(app) as base:
        tts = OpenAITts(base + "/v1", "gpt-4o-mini-tts", "alloy", api_key="test-key")
        hosted = Services(stt=services.stt, tts=tts, agent=LongWinded(), vad=services.vad)
        gw = await gateway_factory(hosted)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            await wait_for(listening_after(call, 1), timeout=15)
            greeting = gw.settings.greeting
            bodies = [r["body"] for r in app.state.speech_requests]
            assert " ".join(b["input"] for b in bodies) == greeting
            assert all(b["response_format"] == "pcm" and b["voice"] == "alloy" for b in bodies)
            assert app.state.speech_requests[0]["auth"] == "Bearer test-key"
            # 60 ms per character, sentence by sentence, as the endpoint streamed it.
            expected = sum(len(b["input"]) * 60 for b in bodies)
            assert abs(caller.log.played_ms(1) - expected) <= 20 * len(bodies) + 20

            # A long reply streams while it plays; a barge-in aborts the request.
            caller.say(await speech("Please tell me something."))
            await wait_for(lambda: caller.log.played_ms(2) >= 1500, timeout=20)
            assert call.turns.phase is TurnPhase.SPEAKING
            assert app.state.speech_streams_started > app.state.speech_streams_finished
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(call.interrupts), timeout=10)
            await wait_for(lambda: app.state.speech_streams_aborted >= 1, timeout=5)
            assert tts.aborted >= 1
            assert caller.log.stale_ms(2, call.interrupts[-1].at) < 60


async def test_a_call_hears_through_an_openai_compatible_stt(gateway_factory, services, speech):
    app = fake_speech_app()
    app.state.transcript = "tell me about the harbour"
    async with serve_app(app) as base:
        stt = OpenAIStt(base + "/v1", "gpt-4o-mini-transcribe", api_key="test-key")
        hosted = Services(stt=stt, tts=services.tts, agent=OfflineAgent(), vad=services.vad)
        gw = await gateway_factory(hosted)
        async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
            call = await only_call(gw.ctx)
            events = record_events(call)
            await wait_for(listening_after(call, 1), timeout=15)
            said = await speech("Hello there, can you hear me?")
            caller.say(said)
            await wait_for(lambda: call.turns.turn_id == 2, timeout=20)
            request = app.state.transcription_requests[0]
            assert request["model"] == "gpt-4o-mini-transcribe"
            assert request["sample_rate"] == 16000 and request["channels"] == 1
            # The utterance as the detector cut it: the speech, its pre-roll and trailing silence.
            assert 0.8 * len(said) / 32 <= request["duration_ms"] <= len(said) / 32 + 1500
            heard = [e.text for e in events if isinstance(e, Transcript)]
            assert heard == ["tell me about the harbour"]
            await wait_for(lambda: caller.log.played_ms(2) >= 1000, timeout=15)
            assert "harbour" in " ".join(s.text for s in call.records[2].spans)
