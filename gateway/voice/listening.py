"""Caller speech from caller frames: the local voice detector, with pre-roll.

Both voices use it: the cascade to cut utterances for STT, a speech-to-speech
model to hear a barge-in before its own detector's verdict crosses the network.
The detector answers a batch later (the model is shared by every call), so
events come through `on_event`, stamped with when the speech really began.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

from gateway.audio.caller_audio import CallerAudio
from gateway.audio.frames import FRAME_MS
from gateway.clock import Clock
from gateway.pipeline.onset import VoiceFaded, VoiceHeld, VoiceOnset
from gateway.pipeline.segmenter import SpeechStarted as VadStarted
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.vad import DetectorEvent, VoiceDetector, VoiceStream
from gateway.voice.session import (
    SpeechStarted,
    SpeechStopped,
    VoiceBegan,
    VoiceEnded,
    VoiceLasted,
)

SpeechEvent = SpeechStarted | SpeechStopped
VoiceChange = VoiceBegan | VoiceEnded | VoiceLasted

DETECTOR_LAG_MS = 1100
"""How late the shared detector may answer and the pre-roll still hold the
first syllable: its queue of 32 windows of 32 ms per call, and a little more."""


class SpeechWatch:
    def __init__(
        self,
        stream: VoiceStream,
        settings: VadSettings,
        clock: Clock,
        on_event: Callable[[SpeechEvent], None],
        on_voice: Callable[[VoiceChange], None] | None = None,
    ) -> None:
        """`on_event`: utterance start and end; `on_voice`: the faster onset,
        fade and held reports the turn rules use for provisional interrupts."""
        self.detector = VoiceDetector(stream, settings, self._decided, clock)
        self.settings = settings
        self.clock = clock
        self._on_event = on_event
        self._on_voice = on_voice
        # Audio from just before speech start, so STT hears the first syllable.
        # The detector answers late under load (its windows wait for a shared
        # batch): the ring also holds what arrived while the verdict was due.
        self._preroll_frames = max(1, settings.preroll_ms // FRAME_MS)
        self.preroll: deque[CallerAudio] = deque(
            maxlen=self._preroll_frames + DETECTOR_LAG_MS // FRAME_MS
        )
        self._late_frames = 0
        """Frames that arrived between the started window and its verdict."""

    @property
    def speaking(self) -> bool:
        return self.detector.segmenter.speaking

    def hear(self, audio: CallerAudio) -> None:
        """Any whole number of frames; kept as pre-roll while nobody speaks."""
        for frame in audio.frames():
            if not self.speaking:
                self.preroll.append(frame)
            self.detector.hear(frame)

    def feed(self, frame: bytes) -> None:
        """One 20 ms frame of PCM16 at the internal rate."""
        self.hear(CallerAudio(frame))

    def _decided(self, event: DetectorEvent, now: float) -> None:
        match event:
            case VadStarted(voiced_ms_before):
                # `now` is when the deciding window arrived, not when decided.
                late_ms = max(0.0, (self.clock.now() - now) * 1000)
                self._late_frames = round(late_ms / FRAME_MS)
                self._on_event(SpeechStarted(now - voiced_ms_before / 1000))
            case VoiceOnset(voiced_ms):
                if self._on_voice is not None:
                    self._on_voice(VoiceBegan(now - voiced_ms / 1000))
            case VoiceFaded(quiet_ms):
                if self._on_voice is not None:
                    self._on_voice(VoiceEnded(now - quiet_ms / 1000))
            case VoiceHeld(voiced_ms):
                if self._on_voice is not None:
                    self._on_voice(VoiceLasted(voiced_ms))
            case _:
                self._on_event(SpeechStopped(now - self.settings.min_silence_ms / 1000))

    def take_preroll(self) -> bytes:
        """The pre-roll before the speech, and what came while it was decided."""
        wanted = self._preroll_frames + self._late_frames
        # Converted now, in order, if nobody read them before (caller_audio.py).
        audio = b"".join(frame.pcm for frame in list(self.preroll)[-wanted:])
        self.preroll.clear()
        self._late_frames = 0
        return audio

    def close(self) -> None:
        self.detector.stream.close()
