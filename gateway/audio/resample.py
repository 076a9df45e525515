"""Resampling at the transport edge: PyAV (libswresample) for streams, soxr for
whole pieces.

soxr's streaming resampler was measured here holding back 100 ms or more of
audio before its first output at every quality above "quick", which would add
that much to time-to-first-audio and lose each turn's tail. libswresample
holds about 2 ms at 16 kHz to 8 kHz and costs about 25 µs a frame.
"""

from __future__ import annotations

import av
import numpy as np
import soxr


class StreamResampler:
    """Resamples one continuous mono int16 stream; `reset` between unrelated streams.

    A new turn is an unrelated stream: resetting drops the old turn's last
    two milliseconds instead of smearing them into the next turn's first frame.
    """

    def __init__(self, in_rate: int, out_rate: int) -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._resampler = self._new()

    def _new(self) -> av.AudioResampler:
        return av.AudioResampler(format="s16", layout="mono", rate=self.out_rate)

    def process(self, samples: np.ndarray) -> np.ndarray:
        if self.in_rate == self.out_rate:
            return samples
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = self.in_rate
        out = self._resampler.resample(frame)
        if not out:
            return np.zeros(0, dtype=np.int16)
        if len(out) == 1:
            return out[0].to_ndarray().reshape(-1)
        return np.concatenate([f.to_ndarray().reshape(-1) for f in out])

    def reset(self) -> None:
        self._resampler = self._new()


def resample_once(samples: np.ndarray, in_rate: int, out_rate: int) -> np.ndarray:
    """Resample a whole, finished piece of audio (a synthesized sentence)."""
    if in_rate == out_rate:
        return samples
    out = soxr.resample(samples, in_rate, out_rate, quality="HQ")
    return np.asarray(out, dtype=np.int16)
