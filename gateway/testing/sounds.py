"""Sounds a synthetic caller makes over the agent: a short "hm" (speech that
should only pause a turn) and non-speech (a cough, a click, a breath) that
should never cut one. Non-speech is generated from a seeded random source, so
every run hears the same sound. All are 16 kHz PCM16."""

from __future__ import annotations

import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.pipeline.tts import EspeakTts

HM_RATE_WPM = 250
"""eSpeak's "hmm" at 250 words a minute is voiced for about 220 ms: a listener's
short "hm". At the default 175 it lasts 330 ms; "mhm" lasts 600."""


async def short_hm() -> bytes:
    return await EspeakTts(rate_wpm=HM_RATE_WPM).synthesize("hmm")


def _pcm(samples: np.ndarray) -> bytes:
    return np.clip(samples, -32767, 32767).astype(np.int16).tobytes()


def cough(seed: int = 1) -> bytes:
    """300 ms of a noise burst that decays, shaped like a cough's spectrum."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.3 * INTERNAL_RATE)) / INTERNAL_RATE
    burst = rng.normal(0, 1, t.size)
    burst = np.convolve(burst, np.ones(4) / 4, mode="same")  # most energy below 4 kHz
    return _pcm(burst * np.exp(-t / 0.08) * 9000)


def click() -> bytes:
    """A 2.5 ms full-scale pulse in 50 ms."""
    samples = np.zeros(int(0.05 * INTERNAL_RATE))
    samples[:40] = 20000
    return _pcm(samples)


def breath(seed: int = 2) -> bytes:
    """500 ms of soft noise swelling and fading."""
    rng = np.random.default_rng(seed)
    n = int(0.5 * INTERNAL_RATE)
    return _pcm(rng.normal(0, 1, n) * np.hanning(n) * 1500)


NON_SPEECH = {"cough": cough, "click": click, "breath": breath}
