"""Sentences in the far end's own codec, made once: on a μ-law wire (Twilio) a
sentence is resampled and encoded as a whole, and kept, instead of every call
converting it frame by frame. The greeting every call says is then converted
once per process. Bounded in bytes; the least recently used go."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from gateway.audio import mulaw
from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once

LIMIT_BYTES = 4 << 20
"""About 8 minutes of μ-law."""


class UlawSentences:
    def __init__(self, limit_bytes: int = LIMIT_BYTES) -> None:
        self.limit_bytes = limit_bytes
        self._ulaw: OrderedDict[tuple[int, str], bytes] = OrderedDict()
        self._bytes = 0
        self.hits = 0

    def convert(self, voice_key: int, text: str, pcm: bytes) -> bytes:
        key = (voice_key, text)
        ulaw = self._ulaw.get(key)
        if ulaw is not None:
            self._ulaw.move_to_end(key)
            self.hits += 1
            return ulaw
        samples = resample_once(np.frombuffer(pcm, dtype=np.int16), INTERNAL_RATE, 8000)
        ulaw = mulaw.encode(samples)
        if len(ulaw) <= self.limit_bytes // 4:
            self._ulaw[key] = ulaw
            self._bytes += len(ulaw)
            while self._bytes > self.limit_bytes:
                _, old = self._ulaw.popitem(last=False)
                self._bytes -= len(old)
        return ulaw


SHARED = UlawSentences()
