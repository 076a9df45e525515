"""Audio an agent socket asks for that is not speech: a `play` URL and `sendDigits`.

A played file is fetched with a size and a time limit and decoded off the
event loop; digits are sent in-band, as the DTMF tone pairs a phone makes,
which every wire carries (none of Sluice's wires has an out-of-band way).
"""

from __future__ import annotations

import asyncio
import io

import av
import httpx
import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import MonoResampler, one_thread

MAX_FILE_BYTES = 8 * 1024 * 1024
FETCH_TIMEOUT_S = 10.0
MAX_PLAY_S = 120
"""A played file longer than this is cut: a bounded clip, not a radio station."""

DIGIT_MS = 120
GAP_MS = 80
PAUSE_MS = 500
"""`w` in the digits: half a second, as Twilio's sendDigits."""
_ROWS = (697, 770, 852, 941)
_COLUMNS = (1209, 1336, 1477, 1633)
_KEYS = ("123A", "456B", "789C", "*0#D")


class PlayFailed(RuntimeError):
    """The file could not be fetched or decoded within the limits."""


async def fetch_clip(client: httpx.AsyncClient, url: str) -> bytes:
    """The file at `url`, at most MAX_FILE_BYTES, within FETCH_TIMEOUT_S."""
    try:
        async with asyncio.timeout(FETCH_TIMEOUT_S):
            async with client.stream("GET", url, follow_redirects=True) as response:
                if response.status_code != 200:
                    raise PlayFailed(f"{url}: HTTP {response.status_code}")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_FILE_BYTES:
                        raise PlayFailed(f"{url}: larger than {MAX_FILE_BYTES} bytes")
                return bytes(body)
    except TimeoutError:
        raise PlayFailed(f"{url}: not fetched within {FETCH_TIMEOUT_S:g} s") from None
    except httpx.HTTPError as exc:
        raise PlayFailed(f"{url}: {type(exc).__name__}") from None


def decode_clip(data: bytes) -> bytes:
    """A WAV or MP3 file as PCM16 mono at the internal rate, at most MAX_PLAY_S.
    CPU work: run it in a thread."""
    limit = MAX_PLAY_S * INTERNAL_RATE * 2
    out = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise PlayFailed("no audio in the file")
            stream = container.streams.audio[0]
            one_thread(stream.codec_context)
            resampler = MonoResampler(INTERNAL_RATE)
            for frame in container.decode(stream):
                for mono in resampler.resample(frame):
                    out += mono.to_ndarray().tobytes()
                if len(out) >= limit:
                    break
    except av.error.FFmpegError as exc:
        raise PlayFailed(f"cannot decode the file: {exc}") from None
    if not out:
        raise PlayFailed("the file holds no audio")
    return bytes(out[:limit])


async def clip(url: str) -> bytes:
    """A played file, fetched and decoded. Plays are rare: a client each, made
    off the event loop (building one loads the CA store: 15 to 30 ms)."""
    client = await asyncio.to_thread(httpx.AsyncClient, timeout=FETCH_TIMEOUT_S)
    async with client:
        data = await fetch_clip(client, url)
    return await asyncio.to_thread(decode_clip, data)


def dtmf_tones(digits: str, level: float = 0.25) -> bytes:
    """The digits as in-band DTMF, PCM16 at the internal rate."""
    out: list[np.ndarray] = []
    tone_t = np.arange(INTERNAL_RATE * DIGIT_MS // 1000) / INTERNAL_RATE
    gap = np.zeros(INTERNAL_RATE * GAP_MS // 1000)
    for digit in digits.upper():
        if digit == "W":
            out.append(np.zeros(INTERNAL_RATE * PAUSE_MS // 1000))
            continue
        row = next(i for i, keys in enumerate(_KEYS) if digit in keys)
        low, high = _ROWS[row], _COLUMNS[_KEYS[row].index(digit)]
        tone = np.sin(2 * np.pi * low * tone_t) + np.sin(2 * np.pi * high * tone_t)
        out += [tone * level / 2, gap]
    pcm = np.concatenate(out) if out else np.zeros(0)
    return (pcm * 32767).astype(np.int16).tobytes()
