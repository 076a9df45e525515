"""Hosted or self-hosted speech over OpenAI-compatible HTTP endpoints.

TTS: `POST {base}/audio/speech` with `response_format: pcm` (24 kHz int16),
read as it streams: each piece is resampled and handed on at once, and
closing the stream (a barge-in cancels the sentence) aborts the request.
STT: `POST {base}/audio/transcriptions` with the utterance as a WAV file.
Requests in flight are bounded per process, so a burst of calls queues
instead of opening sockets without limit.
"""

from __future__ import annotations

import asyncio
import io
import wave
from collections.abc import AsyncIterator

import httpx
import numpy as np

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import StreamResampler
from gateway.pipeline.stt import BufferedUtterance

SPEECH_RATE = 24_000
MAX_INPUT_CHARS = 4096
"""What the speech endpoint accepts in one request."""


class SpeechServiceError(RuntimeError):
    pass


def _client(api_key: str, timeout_s: float) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    return httpx.AsyncClient(timeout=timeout_s, headers=headers)


async def _refusal(response: httpx.Response, what: str) -> SpeechServiceError:
    body = (await response.aread())[:300]
    return SpeechServiceError(f"{what} endpoint answered {response.status_code}: {body!r}")


class OpenAITts:
    def __init__(
        self,
        base_url: str,
        model: str,
        voice: str,
        api_key: str = "",
        concurrency: int = 16,
        timeout_s: float = 30.0,
    ) -> None:
        self.url = base_url.rstrip("/") + "/audio/speech"
        self.model = model
        self.voice = voice
        self._client = _client(api_key, timeout_s)
        self._slots = asyncio.Semaphore(concurrency)
        self.aborted = 0

    async def stream(self, text: str) -> AsyncIterator[bytes]:
        body = {
            "model": self.model,
            "input": text[:MAX_INPUT_CHARS],
            "voice": self.voice,
            "response_format": "pcm",
        }
        down = StreamResampler(SPEECH_RATE, INTERNAL_RATE)
        finished = False
        async with self._slots, self._client.stream("POST", self.url, json=body) as response:
            if response.status_code != 200:
                raise await _refusal(response, "speech")
            odd = b""
            try:
                async for data in response.aiter_bytes():
                    data, odd = odd + data, b""
                    if len(data) % 2:
                        data, odd = data[:-1], data[-1:]
                    pcm = down.process(np.frombuffer(data, dtype=np.int16)).tobytes()
                    if pcm:
                        yield pcm
                finished = True
            finally:
                if not finished:
                    self.aborted += 1  # leaving the block closes the response mid-stream

    async def synthesize(self, text: str) -> bytes:
        return b"".join([pcm async for pcm in self.stream(text)])

    def close(self) -> None:
        """The client's sockets close with the process."""


def wav_bytes(pcm: bytes, rate: int = INTERNAL_RATE) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)
    return buffer.getvalue()


class OpenAIStt:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        language: str = "",
        concurrency: int = 16,
        timeout_s: float = 30.0,
        max_utterance_ms: int = 30_000,
    ) -> None:
        self.url = base_url.rstrip("/") + "/audio/transcriptions"
        self.model = model
        self.language = language
        self._client = _client(api_key, timeout_s)
        self._slots = asyncio.Semaphore(concurrency)
        self._max_bytes = max_utterance_ms * INTERNAL_RATE * 2 // 1000

    def open_stream(self) -> BufferedUtterance:
        # Under 100 ms the endpoint refuses the file, and it holds no words.
        return BufferedUtterance(self.transcribe, self._max_bytes, INTERNAL_RATE * 2 // 10)

    async def transcribe(self, pcm: bytes) -> str:
        data = {"model": self.model, "response_format": "json"}
        if self.language:
            data["language"] = self.language
        files = {"file": ("utterance.wav", wav_bytes(pcm), "audio/wav")}
        async with self._slots:
            response = await self._client.post(self.url, data=data, files=files)
        if response.status_code != 200:
            raise await _refusal(response, "transcription")
        try:
            text = response.json()["text"]
        except (ValueError, KeyError, TypeError) as exc:
            raise SpeechServiceError("transcription answer without text") from exc
        return str(text)

    async def warm_up(self) -> None:
        """Nothing to load: the model lives behind the endpoint."""

    def close(self) -> None:
        """The client's sockets close with the process."""
