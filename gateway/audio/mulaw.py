"""G.711 μ-law, with the tables built once by FFmpeg's codec through PyAV.

The stdlib `audioop` is deprecated and gone in Python 3.13. Running PyAV's
codec per 20 ms frame would cost a codec context per call and a Python-level
frame allocation per packet; instead the codec encodes every possible sample
once at import, and per-frame work is a NumPy table lookup.
"""

from __future__ import annotations

import av
import numpy as np


def _build_tables() -> tuple[np.ndarray, np.ndarray]:
    decoder = av.CodecContext.create("pcm_mulaw", "r")
    decoder.sample_rate = 8000
    decoder.layout = "mono"
    decoded = np.concatenate(
        [f.to_ndarray().reshape(-1) for f in decoder.decode(av.Packet(bytes(range(256))))]
    ).astype(np.int16)

    encoder = av.CodecContext.create("pcm_mulaw", "w")
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
        raise RuntimeError("PyAV's pcm_mulaw codec returned tables of an unexpected size")
    return decoded, encoded.copy()


_DECODE, _ENCODE = _build_tables()


def decode(ulaw: bytes) -> np.ndarray:
    """μ-law bytes to int16 samples."""
    return _DECODE[np.frombuffer(ulaw, dtype=np.uint8)]


def encode(samples: np.ndarray) -> bytes:
    """int16 samples to μ-law bytes."""
    return _ENCODE[samples.astype(np.int16, copy=False).view(np.uint16)].tobytes()
