"""Caller audio as the voices receive it, converted only when somebody listens.

A telephone wire brings 8 kHz G.711; the detector and the recogniser take
16 kHz PCM. Converting every frame (decoding, then resampling) was a seventh
of the gateway's CPU on a carrier call, yet while the caller is quiet nobody
needs the samples: the detector decides from the frame's loudness alone that
the model need not run (gateway/pipeline/vad.py). So a frame from such a wire
keeps its wire bytes and converts on first use of `pcm`; its loudness comes
from the wire bytes through a table.

Loudness is the mean power of each 4 ms block (64 samples at 16 kHz, 32 at
8 kHz) on a full scale of 1.0. Blocks line up with both the 20 ms frames (five
blocks) and the detector's 32 ms windows (eight), so a window's power is the
mean of its blocks' exactly, whichever frames it spans.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from gateway.audio.frames import FRAME_BYTES, FRAME_MS

BLOCK_SAMPLES = 64
"""A block at the internal rate: 4 ms."""
BLOCKS_PER_FRAME = FRAME_BYTES // 2 // BLOCK_SAMPLES


class PcmSource(Protocol):
    """Converts one wire frame of a call's stream on demand (wire_format.InboundAudio)."""

    def pcm_of(self, seq: int, wire: bytes) -> bytes: ...

    def block_powers(self, wire: bytes) -> list[float]: ...


class CallerAudio:
    """One or more 20 ms frames of caller audio."""

    __slots__ = ("_pcm", "ulaw8k", "_wire", "_seq", "_source")

    def __init__(
        self,
        pcm: bytes = b"",
        ulaw8k: bytes = b"",
        *,
        wire: bytes = b"",
        seq: int = 0,
        source: PcmSource | None = None,
    ) -> None:
        """Either `pcm` now, or one frame's `wire` bytes that `source` converts
        when asked (`seq` numbers the frames of its stream)."""
        self._pcm: bytes | None = pcm if source is None else None
        self.ulaw8k = ulaw8k
        """The same audio as G.711 μ-law at 8 kHz, when the wire carried it so:
        a voice that takes μ-law can use it untouched."""
        self._wire = wire
        self._seq = seq
        self._source = source

    @property
    def pcm(self) -> bytes:
        """PCM16 mono at the internal rate."""
        if self._pcm is None:
            assert self._source is not None
            self._pcm = self._source.pcm_of(self._seq, self._wire)
        return self._pcm

    @property
    def ms(self) -> int:
        if self._source is not None:
            return FRAME_MS
        return len(self._pcm or b"") // FRAME_BYTES * FRAME_MS

    def frames(self) -> tuple[CallerAudio, ...]:
        """Each whole 20 ms frame on its own (itself, when it is one)."""
        if self._source is not None:
            return (self,)
        pcm = self.pcm
        if len(pcm) == FRAME_BYTES:
            return (self,)
        return tuple(
            CallerAudio(pcm[i : i + FRAME_BYTES])
            for i in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES)
        )

    def block_powers(self) -> list[float]:
        """One frame's power per 4 ms block, full scale 1.0."""
        if self._source is not None:  # the wire's, converted or not: the same verdicts
            return self._source.block_powers(self._wire)
        return pcm_block_powers(self.pcm)


def _averaging(samples: int, scale: float) -> np.ndarray:
    """A frame's squared samples times this matrix: each block's mean power,
    in one product rather than a reshape and a mean (a fifth of the cost)."""
    per_block = samples // BLOCKS_PER_FRAME
    matrix = np.zeros((samples, BLOCKS_PER_FRAME), dtype=np.float32)
    for block in range(BLOCKS_PER_FRAME):
        matrix[block * per_block : (block + 1) * per_block, block] = scale / per_block
    return matrix


_PCM_BLOCKS = _averaging(FRAME_BYTES // 2, 1 / 32768**2)
_WIRE_BLOCKS = _averaging(FRAME_BYTES // 4, 1.0)
"""G.711 frames: 8 kHz, half the internal rate's samples; tables are full scale 1.0."""


def pcm_block_powers(frame: bytes) -> list[float]:
    samples = np.frombuffer(frame, dtype=np.int16).astype(np.float32)
    return (np.square(samples, out=samples) @ _PCM_BLOCKS).tolist()


def wire_block_powers(table: np.ndarray, wire: bytes) -> list[float]:
    """Through `table`, each wire byte's power (G.711: 256 entries, full scale 1.0)."""
    return (table.take(np.frombuffer(wire, dtype=np.uint8)) @ _WIRE_BLOCKS).tolist()
