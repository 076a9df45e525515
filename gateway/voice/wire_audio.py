"""Sentences in the far end's own codec, made once: on a μ-law wire (Twilio) a
sentence is resampled and encoded as a whole, and kept, instead of every call
converting it frame by frame. The greeting every call says is then converted
once per process. Bounded in bytes; the least recently used go."""

from __future__ import annotations

import numpy as np

from gateway.audio import mulaw
from gateway.audio.byte_cache import ByteCache
from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once

LIMIT_BYTES = 4 << 20
"""About 8 minutes of μ-law."""


class UlawSentences:
    def __init__(self, limit_bytes: int = LIMIT_BYTES) -> None:
        self.cache = ByteCache(limit_bytes)

    def convert(self, voice_key: int, text: str, pcm: bytes) -> bytes:
        key = (voice_key, text)
        ulaw = self.cache.get(key)
        if ulaw is None:
            samples = resample_once(np.frombuffer(pcm, dtype=np.int16), INTERNAL_RATE, 8000)
            ulaw = mulaw.encode(samples)
            self.cache.put(key, ulaw)
        return ulaw


SHARED = UlawSentences()
