"""Caller speech from caller frames: the local voice detector, with pre-roll.

Both voices use it: the cascade to cut utterances for STT, a speech-to-speech
model to hear a barge-in before its own detector's verdict crosses the network.
"""

from __future__ import annotations

from collections import deque

from gateway.audio.frames import FRAME_BYTES, FRAME_MS
from gateway.clock import Clock
from gateway.pipeline.segmenter import SpeechStarted as VadStarted
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.vad import VoiceDetector, VoiceModel
from gateway.voice.session import SpeechStarted, SpeechStopped

SpeechEvent = SpeechStarted | SpeechStopped


class SpeechWatch:
    def __init__(self, model: VoiceModel, settings: VadSettings, clock: Clock) -> None:
        self.detector = VoiceDetector(model, settings)
        self.settings = settings
        self.clock = clock
        # Audio from just before speech start, so STT hears the first syllable.
        self.preroll: deque[bytes] = deque(maxlen=max(1, settings.preroll_ms // FRAME_MS))

    @property
    def speaking(self) -> bool:
        return self.detector.segmenter.speaking

    def frames(self, pcm: bytes) -> list[bytes]:
        return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)]

    def feed(self, frame: bytes) -> list[SpeechEvent]:
        """One 20 ms frame; kept as pre-roll while nobody speaks."""
        if not self.speaking:
            self.preroll.append(frame)
        out: list[SpeechEvent] = []
        for event in self.detector.feed(frame):
            now = self.clock.now()
            if isinstance(event, VadStarted):
                out.append(SpeechStarted(now - event.voiced_ms_before / 1000))
            else:
                out.append(SpeechStopped(now - self.settings.min_silence_ms / 1000))
        return out

    def take_preroll(self) -> bytes:
        audio = b"".join(self.preroll)
        self.preroll.clear()
        return audio
