"""A synthetic caller's microphone: queued speech, else silence or line noise,
one 20 ms frame at a time, stamping when voiced audio went out."""

from __future__ import annotations

import time

import numpy as np

from gateway.audio.frames import FRAME_SAMPLES

VOICED_PEAK = 300


class Microphone:
    def __init__(self, noise_dbfs: float | None = None, seed: int = 7) -> None:
        self._queued = np.zeros(0, dtype=np.int16)
        self._rng = np.random.default_rng(seed)
        self._noise_amp = 32768 * 10 ** (noise_dbfs / 20) if noise_dbfs is not None else 0.0
        self.first_voiced_sent: float | None = None
        """When the first voiced frame of the latest `say` went out."""
        self.last_voiced_sent: float | None = None

    def say(self, pcm16k: bytes) -> None:
        self._queued = np.concatenate([self._queued, np.frombuffer(pcm16k, dtype=np.int16)])
        self.first_voiced_sent = None

    @property
    def speaking(self) -> bool:
        return self._queued.size > 0

    def next_frame(self) -> np.ndarray:
        if self._queued.size:
            frame = self._queued[:FRAME_SAMPLES]
            self._queued = self._queued[FRAME_SAMPLES:]
            if frame.size < FRAME_SAMPLES:
                frame = np.pad(frame, (0, FRAME_SAMPLES - frame.size))
            if np.abs(frame.astype(np.int32)).max() > VOICED_PEAK:
                self.last_voiced_sent = time.monotonic()
                if self.first_voiced_sent is None:
                    self.first_voiced_sent = self.last_voiced_sent
            return frame
        if self._noise_amp:
            return self._rng.normal(0, self._noise_amp, FRAME_SAMPLES).astype(np.int16)
        return np.zeros(FRAME_SAMPLES, dtype=np.int16)


class SpeaksThroughMicrophone:
    """What every synthetic caller exposes of its microphone."""

    mic: Microphone

    def say(self, pcm16k: bytes) -> None:
        """Queue speech; it goes out in real time, one 20 ms frame per tick."""
        self.mic.say(pcm16k)

    @property
    def first_voiced_sent(self) -> float | None:
        return self.mic.first_voiced_sent

    @property
    def last_voiced_sent(self) -> float | None:
        return self.mic.last_voiced_sent
