"""Speech start and end from per-window voice probabilities (sans-I/O)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VadSettings:
    threshold: float = 0.5
    """Probability at or above which a window counts as voiced."""
    min_speech_ms: int = 160
    """Voiced audio needed before speech starts: an utterance begins (and, with
    provisional interrupts off, the barge-in)."""
    min_silence_ms: int = 600
    """Unvoiced audio that ends the caller's utterance."""
    energy_gate_dbfs: float = -60.0
    """Windows quieter than this skip the model and count as unvoiced."""
    noise_margin_db: float = 6.0
    """Outside speech, a window must be this much louder than the tracked noise
    floor to reach the model; steady line noise never does."""
    preroll_ms: int = 300
    """Audio kept from before speech start, so STT hears the first syllable."""
    max_utterance_ms: int = 30_000
    fade_ms: int = 96
    """Unvoiced audio after a short voice that ends a provisional interrupt (onset.py)."""
    long_fade_ms: int = 400
    """The same after a voice that has lasted `long_voice_ms`: longer than the
    pause at a full stop, so a sentence is not resumed between its words."""
    long_voice_ms: int = 288
    held_ms: int = 700
    """Voiced audio since an onset that is reported as held: the interruption
    policy's minimum speech (onset.py)."""


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    voiced_ms_before: int
    """Voiced audio already heard when speech was declared: how late the start is."""


@dataclass(frozen=True, slots=True)
class SpeechEnded:
    speech_ms: int


VadEvent = SpeechStarted | SpeechEnded


class SpeechSegmenter:
    """Hysteresis over voice probabilities.

    A run of voiced windows must reach `min_speech_ms` to start speech; a
    window below `threshold - 0.15` breaks a run that has not started yet.
    Once speaking, `min_silence_ms` of windows below that lower threshold end it.
    """

    HYSTERESIS = 0.15

    def __init__(self, settings: VadSettings) -> None:
        self.settings = settings
        self.speaking = False
        self._run_ms = 0.0
        self._silence_ms = 0.0
        self._speech_ms = 0.0

    @property
    def active(self) -> bool:
        """In speech, or in a voiced run that may become speech: every window matters."""
        return self.speaking or self._run_ms > 0

    def push(self, probability: float, window_ms: float) -> VadEvent | None:
        s = self.settings
        voiced = probability >= s.threshold
        unvoiced = probability < s.threshold - self.HYSTERESIS
        if not self.speaking:
            if voiced:
                self._run_ms += window_ms
                if self._run_ms >= s.min_speech_ms:
                    self.speaking = True
                    self._speech_ms = self._run_ms
                    self._silence_ms = 0.0
                    return SpeechStarted(voiced_ms_before=int(self._run_ms))
            elif unvoiced:
                self._run_ms = 0.0
            return None
        self._speech_ms += window_ms
        if unvoiced:
            self._silence_ms += window_ms
        elif voiced:
            self._silence_ms = 0.0
        if self._silence_ms >= s.min_silence_ms or self._speech_ms >= s.max_utterance_ms:
            return self.end()
        return None

    def end(self) -> SpeechEnded:
        ended = SpeechEnded(speech_ms=int(self._speech_ms))
        self.speaking = False
        self._run_ms = 0.0
        self._silence_ms = 0.0
        self._speech_ms = 0.0
        return ended
