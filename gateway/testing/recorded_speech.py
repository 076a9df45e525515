"""Real human speech with published transcripts: Asterisk's core prompts, as
Debian ships them (asterisk-core-sounds-en-wav, -g722; CC-BY-SA-3.0, recorded
by Allison Smith). Installed by the test setup, never bundled.

The .wav files are 8 kHz telephone audio; the .g722 files are the same takes
at 16 kHz. The transcripts are the package's core-sounds-en.txt.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from gateway.audio import mulaw
from gateway.audio.resample import resample_once

SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
TRANSCRIPTS = Path("/usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz")
DEBIAN_PACKAGES = (
    "asterisk-core-sounds-en",
    "asterisk-core-sounds-en-wav",
    "asterisk-core-sounds-en-g722",
)


@dataclass(frozen=True)
class Prompt:
    name: str
    text: str

    def path(self, kind: str) -> Path:
        return SOUNDS / f"{self.name}.{kind}"


def available(kind: str = "wav") -> bool:
    return TRANSCRIPTS.is_file() and any(SOUNDS.glob(f"*.{kind}"))


def prompts(kind: str = "wav", min_words: int = 1) -> list[Prompt]:
    """Every prompt of spoken words ("[beep tone]" and "<beep ascending>" are
    sounds, not words) that has a recording of `kind`, in the file's order."""
    found: list[Prompt] = []
    with gzip.open(TRANSCRIPTS, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith(";") or ":" not in line:
                continue
            name, text = (part.strip() for part in line.split(":", 1))
            if not text or re.search(r"[\[<]", text) or "/" in name:
                continue
            if len(text.split()) < min_words:
                continue
            prompt = Prompt(name, text)
            if prompt.path(kind).is_file():
                found.append(prompt)
    return found


def load_pcm(prompt: Prompt, kind: str = "wav", rate: int = 16_000) -> bytes:
    """The recording as PCM16 mono at `rate`."""
    path = prompt.path(kind)
    container = av.open(str(path), format="g722" if kind == "g722" else None)
    try:
        stream = container.streams.audio[0]
        native = stream.rate or stream.codec_context.sample_rate
        parts = [
            frame.to_ndarray().reshape(-1).astype(np.int16) for frame in container.decode(stream)
        ]
    finally:
        container.close()
    samples = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    return resample_once(samples, native, rate).tobytes()


def telephone_pcm(prompt: Prompt) -> bytes:
    """The 8 kHz recording through μ-law and up to 16 kHz: what the recogniser
    gets of a Twilio caller."""
    pcm8k = np.frombuffer(load_pcm(prompt, "wav", 8000), dtype=np.int16)
    return resample_once(mulaw.decode(mulaw.encode(pcm8k)), 8000, 16_000).tobytes()
