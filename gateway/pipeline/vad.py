"""Voice activity detection for one call: an energy pre-gate, the shared Silero
model (shared_vad.py), and the segmenter that turns probabilities into speech
start and end. Results come back a batch later, through `on_event`."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Protocol

import numpy as np

from gateway.audio.caller_audio import BLOCK_SAMPLES, BLOCKS_PER_FRAME, CallerAudio
from gateway.audio.frames import FRAME_BYTES, INTERNAL_RATE
from gateway.clock import Clock
from gateway.pipeline.onset import OnsetEvent, OnsetTracker
from gateway.pipeline.segmenter import SpeechEnded, SpeechSegmenter, VadEvent, VadSettings

DetectorEvent = VadEvent | OnsetEvent
BLOCK_BYTES = BLOCK_SAMPLES * 2


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
    It judges a window from the power of its 4 ms blocks (caller_audio.py),
    so the samples of a window the model does not hear are never read: a quiet
    caller on a G.711 wire is never decoded.
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
        if self._window % BLOCK_SAMPLES:
            raise ValueError(f"a window of {self._window} samples is not whole 4 ms blocks")
        self._window_blocks = self._window // BLOCK_SAMPLES
        self._window_ms = self._window * 1000 / INTERNAL_RATE
        # The frames the next window takes from, and each 4 ms block's power:
        # a window is judged from its blocks, and its samples are read only
        # when the model is to hear it (a quiet caller's never are).
        # Bounded by the window: before a frame arrives, fewer than a window's
        # blocks wait, over at most that many blocks plus a frame's, in whole frames.
        most_blocks = self._window_blocks + BLOCKS_PER_FRAME - 1
        self._frames: deque[CallerAudio] = deque(maxlen=-(-most_blocks // BLOCKS_PER_FRAME) + 1)
        self._powers: deque[float] = deque(maxlen=most_blocks)
        self._first_block = 0
        """Blocks of the oldest frame that earlier windows took."""
        self._gate_db = settings.energy_gate_dbfs
        self._floor_db = 0.0
        self.model_windows = 0
        self.gated_windows = 0

    # The floor follows quiet windows down at once and creeps up about 1 dB/s,
    # so a louder room raises it but a few seconds of speech do not.
    _FLOOR_RISE_DB = 0.03

    def _worth_a_model_run(self, power: float) -> bool:
        level_db = 10.0 * math.log10(power) if power > 1e-12 else -120.0
        if level_db < self._floor_db:
            self._floor_db = level_db
        else:
            self._floor_db += self._FLOOR_RISE_DB
        if level_db < self._gate_db:
            return False
        return self.segmenter.active or level_db > self._floor_db + self.settings.noise_margin_db

    def feed(self, frame: bytes) -> None:
        """One 20 ms frame of PCM16 at the internal rate."""
        if len(frame) != FRAME_BYTES:
            raise ValueError(f"VAD takes {FRAME_BYTES}-byte frames, got {len(frame)}")
        self.hear(CallerAudio(frame))

    def hear(self, frame: CallerAudio) -> None:
        """One 20 ms frame, whose samples are read only if the model hears them."""
        self._frames.append(frame)
        self._powers.extend(frame.block_powers())
        blocks = self._window_blocks
        while len(self._powers) >= blocks:
            power = sum(self._powers.popleft() for _ in range(blocks)) / blocks
            now = self.clock.now()
            if self._worth_a_model_run(power):
                self.model_windows += 1
                window = self._take_window()
                self.stream.submit(window, lambda p, at=now: self._decided(p, at))
            else:
                self.gated_windows += 1
                self._skip_window()
                self.stream.submit(None, lambda p, at=now: self._decided(p, at))

    def _take_window(self) -> np.ndarray:
        start = self._first_block * BLOCK_BYTES
        end = start + self._window_blocks * BLOCK_BYTES
        frames_spanned = -(-end // FRAME_BYTES)
        pcm = b"".join(self._frames[i].pcm for i in range(frames_spanned))
        self._skip_window()
        return np.frombuffer(pcm[start:end], dtype=np.int16) * np.float32(1 / 32768)

    def _skip_window(self) -> None:
        taken = self._first_block + self._window_blocks
        whole, self._first_block = divmod(taken, BLOCKS_PER_FRAME)
        for _ in range(whole):
            self._frames.popleft()

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
