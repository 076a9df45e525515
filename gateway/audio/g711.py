"""G.711 (μ-law and A-law), with the tables built once by FFmpeg's codecs through PyAV.

The stdlib `audioop` is deprecated and gone in Python 3.13. Running PyAV's
codec per 20 ms frame would cost a codec context per call and a Python-level
frame allocation per packet; instead each codec encodes every possible sample
once at import, and per-frame work is a NumPy table lookup.
"""

from __future__ import annotations

import av
import numpy as np


def _tables(codec: str) -> tuple[np.ndarray, np.ndarray]:
    decoder = av.CodecContext.create(codec, "r")
    decoder.sample_rate = 8000
    decoder.layout = "mono"
    decoded = np.concatenate(
        [f.to_ndarray().reshape(-1) for f in decoder.decode(av.Packet(bytes(range(256))))]
    ).astype(np.int16)

    encoder = av.CodecContext.create(codec, "w")
    encoder.sample_rate = 8000
    encoder.layout = "mono"
    encoder.format = "s16"
    # Ordered by the samples' bit patterns, so that encode() can index by them.
    every_sample = np.arange(65536, dtype=np.uint16).view(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(every_sample, format="s16", layout="mono")
    frame.sample_rate = 8000
    packets = list(encoder.encode(frame)) + list(encoder.encode(None))
    encoded = np.frombuffer(b"".join(bytes(p) for p in packets), dtype=np.uint8)
    if decoded.size != 256 or encoded.size != 65536:
        raise RuntimeError(f"PyAV's {codec} codec returned tables of an unexpected size")
    return decoded, encoded.copy()


class G711:
    def __init__(self, codec: str) -> None:
        self._decode, self._encode = _tables(codec)
        self.silence = self.encode(np.zeros(1, dtype=np.int16))
        self.powers = ((self._decode.astype(np.float64) / 32768) ** 2).astype(np.float32)
        """Each byte's power on a full scale of 1.0 (caller_audio.py)."""

    def decode(self, data: bytes) -> np.ndarray:
        """G.711 bytes to int16 samples."""
        return self._decode.take(np.frombuffer(data, dtype=np.uint8))  # faster than [...]

    def encode(self, samples: np.ndarray) -> bytes:
        """int16 samples to G.711 bytes."""
        return self._encode[samples.astype(np.int16, copy=False).view(np.uint16)].tobytes()


MULAW = G711("pcm_mulaw")
ALAW = G711("pcm_alaw")
