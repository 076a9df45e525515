"""The paced output track: what aiortc's sender pulls, one 20 ms frame per deadline."""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable

import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from av import AudioFrame

from gateway.audio.frames import INTERNAL_RATE, AudioChunk
from gateway.audio.resample import StreamResampler
from gateway.flow.pacer import Pacer

WIRE_RATE = 48_000
"""aiortc's Opus encoder works at 48 kHz; feeding it 48 kHz saves a resampler's delay."""
SAMPLES = WIRE_RATE // 50
TIME_BASE = fractions.Fraction(1, WIRE_RATE)
log = logging.getLogger(__name__)


class PacedAudioTrack(MediaStreamTrack):
    """recv() sleeps to an absolute deadline, then returns the pacer's frame or
    silence. It never blocks beyond the deadline and never raises while live:
    any exception out of recv() ends aiortc's sender for good.
    """

    kind = "audio"

    def __init__(self, pacer: Pacer, on_emit: Callable[[AudioChunk | None], None]) -> None:
        super().__init__()
        self.pacer = pacer
        self._on_emit = on_emit
        self._up = StreamResampler(INTERNAL_RATE, WIRE_RATE, band_limited=False)
        self._fifo = np.zeros(0, dtype=np.int16)
        self._turn = 0
        self._pts = 0

    def flush(self, turn_id: int) -> int:
        dropped = self.pacer.flush(turn_id)
        if self._turn == turn_id:
            self._fifo = np.zeros(0, dtype=np.int16)
            self._up.reset()
        return dropped

    def _samples(self, chunk: AudioChunk | None) -> np.ndarray:
        if chunk is not None:
            if chunk.turn_id != self._turn:
                self._turn = chunk.turn_id
                self._up.reset()
            up = self._up.process(np.frombuffer(chunk.pcm, dtype=np.int16))
            self._fifo = np.concatenate([self._fifo, up])
        if self._fifo.size >= SAMPLES:
            out, self._fifo = self._fifo[:SAMPLES], self._fifo[SAMPLES:]
            return out
        out = np.zeros(SAMPLES, dtype=np.int16)
        out[: self._fifo.size] = self._fifo
        self._fifo = np.zeros(0, dtype=np.int16)
        return out

    async def recv(self) -> AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        wait = self.pacer.next_deadline() - self.pacer.clock.now()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.pacer.emit()
        try:
            self._on_emit(chunk)
        except Exception:  # an error here must not end the sender
            log.exception("on_emit failed")
        frame = AudioFrame(format="s16", layout="mono", samples=SAMPLES)
        frame.planes[0].update(self._samples(chunk).tobytes())
        frame.pts = self._pts
        frame.sample_rate = WIRE_RATE
        frame.time_base = TIME_BASE
        self._pts += SAMPLES
        return frame
