"""G.711 μ-law, the telephone wire's codec and the pipeline's second format (see g711.py)."""

from __future__ import annotations

import numpy as np

from gateway.audio.g711 import MULAW


def decode(ulaw: bytes) -> np.ndarray:
    """μ-law bytes to int16 samples."""
    return MULAW.decode(ulaw)


def encode(samples: np.ndarray) -> bytes:
    """int16 samples to μ-law bytes."""
    return MULAW.encode(samples)
