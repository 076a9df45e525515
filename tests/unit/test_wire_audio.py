"""Sentences converted to μ-law once: the right length, the same sound, kept and bounded."""

from __future__ import annotations

import numpy as np
import pytest

from gateway.audio import mulaw
from gateway.audio.frames import INTERNAL_RATE
from gateway.voice.wire_audio import UlawSentences

pytestmark = pytest.mark.timeout(10)


def tone(ms: int, hz: float = 440.0) -> bytes:
    t = np.arange(INTERNAL_RATE * ms // 1000) / INTERNAL_RATE
    return (0.3 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).tobytes()


def test_a_sentence_becomes_8_khz_mulaw_of_the_same_length_and_pitch():
    ulaw = UlawSentences().convert(1, "hello", tone(1000))
    assert len(ulaw) == 8000  # one second at 8 bytes per ms
    samples = mulaw.decode(ulaw).astype(np.float64)
    spectrum = np.abs(np.fft.rfft(samples))
    assert abs(np.argmax(spectrum) * 8000 / samples.size - 440) < 5


def test_a_sentence_said_again_is_not_converted_again():
    cache = UlawSentences()
    first = cache.convert(1, "hello", tone(500))
    assert cache.convert(1, "hello", b"") is first  # the pcm is not even looked at
    assert cache.cache.hits == 1
    assert cache.convert(2, "hello", tone(200)) != first  # another voice says it otherwise


def test_the_cache_is_bounded_in_bytes():
    cache = UlawSentences(limit_bytes=40_000)
    for n in range(40):
        cache.convert(1, f"sentence {n}", tone(500))  # 4000 bytes each
    assert cache.cache.size_bytes <= 40_000
    assert len(cache.cache) == 10
