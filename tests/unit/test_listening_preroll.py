"""The pre-roll keeps the first syllable when the shared detector answers
late: under load its windows wait for a batch, and by the verdict more audio
has arrived. STT must hear the speech from its start either way."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.audio.frames import FRAME_BYTES, FRAME_MS
from gateway.clock import FakeClock
from gateway.pipeline.segmenter import VadSettings
from gateway.voice.listening import SpeechWatch
from gateway.voice.session import SpeechStarted

pytestmark = pytest.mark.timeout(10)

SILENT = bytes(FRAME_BYTES)
LOUD = (np.full(FRAME_BYTES // 2, 8000, dtype=np.int16)).tobytes()


class LateStream:
    """A detector that says "voiced" for loud windows, `late` windows after each."""

    window_samples = 512

    def __init__(self, late: int) -> None:
        self.late = late
        self.waiting: list = []

    def submit(self, window, done) -> None:
        loud = window is not None and float(np.abs(window).mean()) > 0.1
        self.waiting.append((done, 1.0 if loud else 0.0))
        while len(self.waiting) > self.late:
            answer, p = self.waiting.pop(0)
            answer(p)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("late_windows", [0, 8, 25])
def test_the_speech_reaches_stt_from_its_first_frame(late_windows: int) -> None:
    clock = FakeClock(100.0)
    heard: list[bytes] = []
    watch: SpeechWatch

    def on_event(event) -> None:
        if isinstance(event, SpeechStarted):
            heard.append(watch.take_preroll())

    watch = SpeechWatch(LateStream(late_windows), VadSettings(), clock, on_event)
    for frame in [SILENT] * 60 + [LOUD] * 80:
        watch.feed(frame)
        clock.advance(FRAME_MS / 1000)
    (preroll,) = heard
    frames = [preroll[i : i + FRAME_BYTES] for i in range(0, len(preroll), FRAME_BYTES)]
    assert LOUD in frames
    first_loud = frames.index(LOUD)
    # Silence before the first loud frame: the onset is in, with some lead.
    assert first_loud * FRAME_MS >= 100, "the pre-roll starts inside the speech"
    assert first_loud * FRAME_MS <= VadSettings().preroll_ms
