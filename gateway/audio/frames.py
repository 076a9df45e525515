"""The pipeline's one internal audio format and the turn-stamped chunk."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INTERNAL_RATE = 16_000
FRAME_MS = 20
FRAME_SAMPLES = INTERNAL_RATE * FRAME_MS // 1000
FRAME_BYTES = FRAME_SAMPLES * 2
ULAW_BYTES_PER_MS = 8
ULAW_FRAME_BYTES = FRAME_MS * ULAW_BYTES_PER_MS
ULAW_SILENCE = b"\xff"


def ms_to_samples(ms: float, rate: int = INTERNAL_RATE) -> int:
    return int(round(ms * rate / 1000))


def samples_to_ms(samples: int, rate: int = INTERNAL_RATE) -> float:
    return samples * 1000 / rate


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One frame of agent audio, stamped with the turn it belongs to.

    `offset_ms` is where the frame starts inside its turn, so any hop that
    holds the chunk can tell how much of the turn lies before it.
    """

    turn_id: int
    pcm: bytes
    offset_ms: int
    ulaw8k: bytes = b""
    """The frame as G.711 μ-law at 8 kHz, when the voice made it so: a wire
    that carries μ-law sends it untouched. `pcm` may then be empty."""

    @property
    def duration_ms(self) -> int:
        if not self.pcm:
            return len(self.ulaw8k) // ULAW_BYTES_PER_MS
        return len(self.pcm) * 1000 // (2 * INTERNAL_RATE)

    @property
    def end_ms(self) -> int:
        return self.offset_ms + self.duration_ms


def split_frames(pcm: bytes) -> list[bytes]:
    """Cut PCM16 into whole 20 ms frames, padding the last with silence."""
    if len(pcm) % FRAME_BYTES:
        pcm = pcm + bytes(FRAME_BYTES - len(pcm) % FRAME_BYTES)
    return [pcm[i : i + FRAME_BYTES] for i in range(0, len(pcm), FRAME_BYTES)]


def split_ulaw_frames(ulaw: bytes) -> list[bytes]:
    """Cut 8 kHz μ-law into whole 20 ms frames, padding the last with silence."""
    if len(ulaw) % ULAW_FRAME_BYTES:
        ulaw = ulaw + ULAW_SILENCE * (ULAW_FRAME_BYTES - len(ulaw) % ULAW_FRAME_BYTES)
    return [ulaw[i : i + ULAW_FRAME_BYTES] for i in range(0, len(ulaw), ULAW_FRAME_BYTES)]


def pcm_to_float(pcm: bytes) -> np.ndarray:
    return np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768.0


def rms_dbfs(pcm: bytes) -> float:
    samples = np.frombuffer(pcm, dtype=np.int16).astype(np.float32)
    if samples.size == 0:
        return -120.0
    power = float(np.mean(samples * samples))
    if power <= 0.0:
        return -120.0
    return 10.0 * np.log10(power / (32768.0 * 32768.0))
