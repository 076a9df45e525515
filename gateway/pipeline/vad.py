"""Voice activity detection for one call: an energy pre-gate, the shared Silero
model (shared_vad.py), and the segmenter that turns probabilities into speech
start and end. Results come back a batch later, through `on_event`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import numpy as np

from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.clock import Clock
from gateway.pipeline.onset import OnsetEvent, OnsetTracker
from gateway.pipeline.segmenter import SpeechEnded, SpeechSegmenter, VadEvent, VadSettings

DetectorEvent = VadEvent | OnsetEvent


class VoiceStream(Protocol):
    """A call's place in a voice model (shared_vad.VadStream, or a test's stand-in)."""

    window_samples: int

    def submit(self, window: np.ndarray | None, done: Callable[[float], None]) -> None:
        """`done(probability)` later, in order; None is a window kept from the model."""
        ...

    def close(self) -> None: ...


class VoiceDetector:
    """Feeds 20 ms frames to the model in its own window size; reports voice
    onset and fade (onset.py) and speech start and end (segmenter.py).

    An energy pre-gate keeps silence and steady line noise away from the model:
    digital silence below `energy_gate_dbfs`, and anything within
    `noise_margin_db` of the tracked noise floor while no speech is under way.
    """

    def __init__(
        self,
        stream: VoiceStream,
        settings: VadSettings,
        on_event: Callable[[DetectorEvent, float], None],
        clock: Clock,
    ) -> None:
        """`on_event(event, at)`: `at` is when the window that decided it arrived."""
        self.stream = stream
        self.clock = clock
        self.settings = settings
        self.segmenter = SpeechSegmenter(settings)
        self.onset = OnsetTracker(
            settings.threshold,
            SpeechSegmenter.HYSTERESIS,
            settings.fade_ms,
            settings.held_ms,
            settings.long_fade_ms,
            settings.long_voice_ms,
        )
        self._on_event = on_event
        self._window = stream.window_samples
        self._pending = np.zeros(self._window * 2, dtype=np.float32)
        self._filled = 0
        self._window_ms = self._window * 1000 / INTERNAL_RATE
        self._gate_db = settings.energy_gate_dbfs
        self._floor_db = 0.0
        self.model_windows = 0
        self.gated_windows = 0

    # The floor follows quiet windows down at once and creeps up about 1 dB/s,
    # so a louder room raises it but a few seconds of speech do not.
    _FLOOR_RISE_DB = 0.03

    def _worth_a_model_run(self, window: np.ndarray) -> bool:
        power = float(np.dot(window, window)) / window.size
        level_db = 10.0 * np.log10(power) if power > 1e-12 else -120.0
        if level_db < self._floor_db:
            self._floor_db = level_db
        else:
            self._floor_db += self._FLOOR_RISE_DB
        if level_db < self._gate_db:
            return False
        return self.segmenter.active or level_db > self._floor_db + self.settings.noise_margin_db

    def feed(self, frame: bytes) -> None:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD takes {FRAME_BYTES}-byte frames, got {len(frame)}")
        samples = np.frombuffer(frame, dtype=np.int16)
        n = samples.size
        # Scaled straight into the window buffer: no temporaries per frame.
        np.multiply(samples, 1 / 32768.0, out=self._pending[self._filled : self._filled + n])
        self._filled += n
        while self._filled >= self._window:
            window = self._pending[: self._window].copy()
            self._pending[: self._filled - self._window] = self._pending[
                self._window : self._filled
            ]
            self._filled -= self._window
            now = self.clock.now()
            if self._worth_a_model_run(window):
                self.model_windows += 1
                self.stream.submit(window, lambda p, at=now: self._decided(p, at))
            else:
                self.gated_windows += 1
                self.stream.submit(None, lambda p, at=now: self._decided(p, at))

    def _decided(self, probability: float, at: float) -> None:
        # Onset before speech start, fade before speech end: the order they happened.
        heard = self.onset.push(probability, self._window_ms, self.segmenter.speaking)
        if heard is not None:
            self._on_event(heard, at)
        event = self.segmenter.push(probability, self._window_ms)
        if event is not None:
            if isinstance(event, SpeechEnded):
                self.onset.speech_ended()
            self._on_event(event, at)
