"""The offline engines themselves: eSpeak NG, Whisper, PocketSphinx, Silero, on real audio."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.clock import FakeClock
from gateway.pipeline.onset import VoiceOnset
from gateway.pipeline.segmenter import SpeechEnded, SpeechStarted, VadSettings
from gateway.pipeline.vad import VoiceDetector

pytestmark = pytest.mark.timeout(30)


async def test_espeak_makes_16_khz_speech_of_plausible_length(services):
    pcm = await services.tts.synthesize("The quick brown fox jumps over the lazy dog.")
    seconds = len(pcm) / 2 / INTERNAL_RATE
    assert 1.5 < seconds < 5.0
    samples = np.frombuffer(pcm, dtype=np.int16)
    assert np.abs(samples).max() > 3000


async def test_a_second_voice_in_the_process_leaves_the_first_working(services):
    """eSpeak's state is global: a second EspeakTts (the comparison runner makes
    one) once took over the synth callback, and closing it crashed the first."""
    from gateway.pipeline.tts import EspeakTts

    other = EspeakTts(rate_wpm=220)
    fast = await other.synthesize("Hello there.")
    other.close()
    normal = await services.tts.synthesize("Hello there.")
    assert len(normal) > len(fast) > 0  # each kept its own speed


async def test_cancelling_synthesis_stops_the_work(services):
    tts = services.tts
    before = tts.cancelled
    task = asyncio.create_task(tts.synthesize("word " * 400))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tts.cancelled == before + 1
    # The engine is still healthy for the next sentence.
    assert len(await tts.synthesize("Still here.")) > 0


async def test_whisper_recognises_synthesized_speech(services, speech):
    stream = services.stt.open_stream()
    stream.feed(await speech("I would like to order a pizza."))
    text = await stream.finish()
    assert "pizza" in text.lower()


async def test_pocketsphinx_stays_available(speech):
    from gateway.pipeline.stt import PocketSphinxStt

    stt = PocketSphinxStt()
    try:
        stream = stt.open_stream()
        stream.feed(await speech("I would like to order a pizza."))
        assert "pizza" in await stream.finish()
    finally:
        stt.close()


async def detect(services, pcm: bytes, on_event, at_frame=None) -> VoiceDetector:
    """Runs the shared detector over `pcm` as 20 ms frames on a clock that reads
    each frame's own instant, and waits for every window's verdict."""
    clock = FakeClock()
    stream = services.vad.stream()
    detector = VoiceDetector(stream, VadSettings(min_silence_ms=500), on_event, clock)
    for n, i in enumerate(range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)):
        detector.feed(pcm[i : i + FRAME_BYTES])
        if at_frame is not None:
            at_frame(n, detector)
        clock.advance(0.02)
        while len(stream.pending) > 4:  # faster than real time, within the stream's bound
            await asyncio.sleep(0.001)
    while stream.pending or stream.in_batch:
        await asyncio.sleep(0.005)
    stream.close()
    return detector


async def test_silero_finds_the_start_and_end_of_speech(services, speech):
    pcm = (
        bytes(FRAME_BYTES * 25)
        + await speech("Hello there, how are you?")
        + bytes(FRAME_BYTES * 50)
    )
    events: list = []
    detector = await detect(services, pcm, lambda e, at: events.append((round(at * 1000), e)))
    speech_events = [(at, e) for at, e in events if isinstance(e, SpeechStarted | SpeechEnded)]
    assert [type(e) for _, e in speech_events] == [SpeechStarted, SpeechEnded]
    started_ms = speech_events[0][0]
    assert 500 <= started_ms <= 500 + 400  # speech begins at 500 ms; detection needs 160 ms of it
    # The onset (what pauses the agent) comes a window in, well before speech is declared.
    onset_ms, onset = events[0]
    assert isinstance(onset, VoiceOnset) and 500 <= onset_ms <= 500 + 100
    assert started_ms - onset_ms >= 100
    assert detector.gated_windows > 0  # digital silence never reaches the model


async def test_steady_line_noise_stays_away_from_the_model_but_speech_over_it_is_found(
    services, speech
):
    rng = np.random.default_rng(1)
    amplitude = 32768 * 10 ** (-45 / 20)

    def noise(frames: int) -> bytes:
        return rng.normal(0, amplitude, frames * FRAME_BYTES // 2).astype(np.int16).tobytes()

    voice = np.frombuffer(await speech("Hello there, how are you?"), dtype=np.int16)
    noisy_voice = (
        voice
        + np.frombuffer(noise(len(voice) * 2 // FRAME_BYTES + 1), dtype=np.int16)[: voice.size]
    ).astype(np.int16)
    pcm = noise(250) + noisy_voice.tobytes() + noise(60)
    kinds: list = []
    seen: dict[str, int] = {}

    def at_frame(n: int, detector: VoiceDetector) -> None:
        if n == 249:  # the detector counts model windows as it submits them
            seen["noise"] = detector.model_windows

    def speech_only(event, at: float) -> None:
        if isinstance(event, SpeechStarted | SpeechEnded):  # onset reports aside
            kinds.append(type(event))

    await detect(services, pcm, speech_only, at_frame)
    model_runs_in_noise = seen.get("noise")
    assert kinds == [SpeechStarted, SpeechEnded]
    assert model_runs_in_noise is not None and model_runs_in_noise <= 10  # of ~156 noise windows
