"""Piper, the optional TTS tier (`sluice-gateway[piper]`, which the test extra
installs): a clearer voice for the agent and for synthetic callers."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.audio import mulaw
from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once
from gateway.call.events import Transcript
from gateway.runtime.services import Services
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.wer import word_error_rate
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

piper_tts = pytest.importorskip("gateway.pipeline.piper_tts")
pytest.importorskip("piper")

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def piper():
    tts = piper_tts.PiperTts()
    yield tts
    tts.close()


async def heard(services: Services, pcm: bytes) -> str:
    stream = services.stt.open_stream()
    stream.feed(pcm)
    return await stream.finish()


async def test_piper_speaks_what_whisper_hears(services, piper):
    sentence = "I would like to book a table for two people tomorrow evening."
    pcm = await piper.synthesize(sentence)
    seconds = len(pcm) / 2 / INTERNAL_RATE
    assert 2.0 < seconds < 6.0
    assert np.abs(np.frombuffer(pcm, dtype=np.int16)).max() > 10_000
    assert word_error_rate(sentence, await heard(services, pcm)) <= 0.1


async def test_a_cancel_stops_the_sentence_mid_run(piper):
    before = piper.aborted_mid_run
    task = asyncio.create_task(piper.synthesize("and then it went on " * 60))
    await asyncio.sleep(0.15)  # long enough for the run to start, far from its end
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await wait_for(lambda: piper.aborted_mid_run == before + 1, timeout=5)
    assert len(await piper.synthesize("Still here.")) > 0


async def test_a_call_with_the_piper_voice_is_heard_both_ways(gateway_factory, services, piper):
    """The agent greets in Piper's voice over the phone path; the caller, a
    Piper voice too, asks a question the gateway transcribes."""
    voiced = Services(stt=services.stt, tts=piper, agent=services.agent, vad=services.vad)
    gw = await gateway_factory(voiced)
    async with TwilioCaller(gw.ws_url + "/twilio/media", keep_heard_s=20) as caller:
        call = await only_call(gw.ctx)
        events = record_events(call)
        await wait_for(listening_after(call, 1), timeout=20)
        greeting = call.records[1].text
        ulaw = bytes(caller.heard)
        question = "Can you tell me a story about a lighthouse?"
        caller.say(await piper.synthesize(question))
        await wait_for(lambda: any(isinstance(e, Transcript) for e in events), timeout=20)
    as_heard = resample_once(mulaw.decode(ulaw), 8000, INTERNAL_RATE).tobytes()
    assert word_error_rate(greeting, await heard(services, as_heard)) <= 0.15
    transcript = next(e.text for e in events if isinstance(e, Transcript))
    assert word_error_rate(question, transcript) <= 0.15
