"""Headless Chromium with a fake microphone that plays a WAV: how the page is
driven by the browser tests and by `sluice compare --clients chromium`."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np

from gateway.audio.resample import resample_once

CHROMIUM = os.environ.get("SLUICE_CHROMIUM", "/usr/lib/chromium/chromium")
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
]


def available() -> bool:
    return os.path.exists(CHROMIUM)


def write_wav(path: Path, pcm16k: np.ndarray) -> Path:
    """Chromium's fake microphone wants 48 kHz mono s16."""
    pcm48 = resample_once(pcm16k, 16_000, 48_000)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48_000)
        w.writeframes(pcm48.astype(np.int16).tobytes())
    return path


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * 16_000), dtype=np.int16)


async def launch(playwright, mic_wav: Path, origin: str | None = None):
    """With %noloop Chromium repeats the file's last 10 ms forever, so the file
    must end in silence. `origin`: a plain-HTTP origin beyond loopback to treat
    as secure (the comparison's gateway namespace): the microphone and the
    audio worklet need a secure context, which only loopback gets for free."""
    secure = [f"--unsafely-treat-insecure-origin-as-secure={origin}"] if origin else []
    return await playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=[*FLAGS, *secure, f"--use-file-for-fake-audio-capture={mic_wav}%noloop"],
        ignore_default_args=["--mute-audio"],
    )
