"""Voice onset and fade from per-window voice probabilities (sans-I/O).

The segmenter (segmenter.py) is slow on purpose: it declares speech only after
`min_speech_ms` of voiced windows, so that STT gets whole utterances. A barge-in
cannot wait that long: the caller hears the agent over their own voice the
whole time. This tracker answers the faster questions the turn rules ask:

- `VoiceOnset`: the first voiced window after a quiet spell. The conversation
  stops the caller hearing the agent at once (a provisional interrupt).
- `VoiceFaded`: enough unvoiced windows since the last voiced one. If the
  interrupt was not confirmed by then, the turn resumes where it was heard.
  A short voice ("hm") fades after `fade_ms`. A voice that has lasted
  `long_voice_ms` sounds like the start of a sentence, and sentences pause at
  commas (about 160 ms) and full stops (about 320 ms, both measured on
  eSpeak through Silero): it fades only after `long_fade_ms`, so an objection
  with a comma in it is not resumed between its words.
- `VoiceHeld`: the voiced audio since the onset (quiet gaps shorter than the
  fade do not reset it) reached `held_ms`: long enough to confirm.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class VoiceOnset:
    voiced_ms: int
    """Voiced audio already heard when the onset was reported."""


@dataclass(frozen=True, slots=True)
class VoiceFaded:
    quiet_ms: int
    """Unvoiced audio since the last voiced window."""


@dataclass(frozen=True, slots=True)
class VoiceHeld:
    voiced_ms: int


OnsetEvent = VoiceOnset | VoiceFaded | VoiceHeld


class OnsetTracker:
    """Uses the segmenter's two thresholds: a window at or above `threshold` is
    voiced, one below `threshold - hysteresis` is unvoiced, the rest change nothing.

    The voiced total runs from an onset until the speech it began is over: a
    fade while the segmenter is not in speech, or `speech_ended()`.
    """

    def __init__(
        self,
        threshold: float,
        hysteresis: float,
        fade_ms: int,
        held_ms: int,
        long_fade_ms: int | None = None,
        long_voice_ms: int = 288,
    ) -> None:
        self.threshold = threshold
        self.unvoiced_below = threshold - hysteresis
        self.fade_ms = fade_ms
        self.long_fade_ms = fade_ms if long_fade_ms is None else max(fade_ms, long_fade_ms)
        self.long_voice_ms = long_voice_ms
        self.held_ms = held_ms
        self.voicing = False
        """Between an onset and its fade."""
        self._quiet_ms = 0.0
        self._voiced_ms = 0.0
        self._held = False

    def push(self, probability: float, window_ms: float, in_speech: bool) -> OnsetEvent | None:
        """One window; `in_speech`: the segmenter is inside an utterance."""
        if probability >= self.threshold:
            self._quiet_ms = 0.0
            self._voiced_ms += window_ms
            if not self.voicing:
                self.voicing = True
                return VoiceOnset(int(self._voiced_ms))
            if not self._held and self._voiced_ms >= self.held_ms:
                self._held = True
                return VoiceHeld(int(self._voiced_ms))
            return None
        if probability < self.unvoiced_below and self.voicing:
            self._quiet_ms += window_ms
            long = self._voiced_ms >= self.long_voice_ms
            if self._quiet_ms >= (self.long_fade_ms if long else self.fade_ms):
                self.voicing = False
                if not in_speech:
                    self.speech_ended()
                return VoiceFaded(int(self._quiet_ms))
        return None

    def speech_ended(self) -> None:
        """The utterance is over: the next onset starts a new count."""
        self._voiced_ms = 0.0
        self._held = False
