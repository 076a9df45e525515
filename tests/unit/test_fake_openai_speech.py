"""The fake OpenAI speech endpoints, driven by a plain httpx client, so tests that lean on
them know they keep to the API's shapes."""

from __future__ import annotations

import asyncio
import io
import time
import wave
from collections.abc import AsyncIterator, Callable

import httpx
import numpy as np
import pytest
from fastapi import FastAPI

from tests.fakes.openai_speech import SAMPLE_RATE, fake_speech_app, serve_app, tone

pytestmark = pytest.mark.timeout(30)

AUTH = {"Authorization": "Bearer test-key"}
Served = tuple[FastAPI, httpx.AsyncClient]


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = fake_speech_app()
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base, timeout=10) as client:
        yield app, client


async def until(predicate: Callable[[], bool], timeout: float = 3.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.01)


def speech_body(text: str = "Hello there.", fmt: str | None = "pcm") -> dict[str, object]:
    body: dict[str, object] = {"model": "gpt-4o-mini-tts", "input": text, "voice": "marin"}
    if fmt is not None:
        body["response_format"] = fmt
    return body


def make_wav(ms: int, rate: int = 16_000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"\x00\x00" * (rate * ms // 1000))
    return out.getvalue()


async def test_pcm_streams_in_paced_chunks_of_the_whole_length(served: Served) -> None:
    app, client = served
    text = "x" * 50  # 50 chars * 60 ms = 3 s = 30 chunks of 100 ms
    chunks: list[bytes] = []
    arrivals: list[float] = []
    async with client.stream("POST", "/v1/audio/speech", json=speech_body(text), headers=AUTH) as r:
        assert r.status_code == 200 and r.headers["content-type"] == "audio/pcm"
        async for chunk in r.aiter_raw():
            chunks.append(chunk)
            arrivals.append(time.monotonic())
    audio = b"".join(chunks)
    assert len(audio) == 3 * SAMPLE_RATE * 2
    assert len(chunks) >= 5, "audio must arrive incrementally, not in one body"
    assert arrivals[-1] - arrivals[0] >= 0.1  # 29 pauses of 10 ms
    samples = np.frombuffer(audio, "<i2")
    assert audio[:200] == tone(0, 100)
    assert 8000 < np.abs(samples).max() < 8400  # -12 dBFS is about 8231
    await until(lambda: app.state.speech_streams_finished == 1)
    assert app.state.speech_streams_started == 1 and app.state.speech_streams_aborted == 0
    assert app.state.speech_requests[0] == {"body": speech_body(text), "auth": "Bearer test-key"}


async def test_wav_is_the_same_audio_behind_a_header_wave_reads(served: Served) -> None:
    _, client = served
    r = await client.post("/v1/audio/speech", json=speech_body("abcde", "wav"), headers=AUTH)
    assert r.status_code == 200 and r.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(r.content), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (SAMPLE_RATE, 1, 2)
        assert w.getnframes() == 5 * 60 * SAMPLE_RATE // 1000
        assert w.readframes(w.getnframes()) == r.content[44:] == tone(0, w.getnframes())


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_a_missing_or_wrong_key_is_a_401_in_openai_shape(
    served: Served, headers: dict[str, str]
) -> None:
    app, client = served
    for path in ("/v1/audio/speech", "/v1/audio/transcriptions"):
        r = await client.post(path, json=speech_body(), headers=headers)
        assert r.status_code == 401
        error = r.json()["error"]
        assert error["type"] == "invalid_request_error" and error["message"]
        assert "code" in error
    assert app.state.speech_streams_started == 0


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (speech_body(fmt="mp3"), "only serves pcm and wav"),
        (speech_body(fmt=None), "only serves pcm and wav"),  # OpenAI's default is mp3
        ({**speech_body(), "model": ""}, "'model'"),
        ({**speech_body(), "input": None}, "'input'"),
        (speech_body("x" * 4097), "4096"),
        ({**speech_body(), "speed": 5}, "'speed'"),
    ],
)
async def test_bad_speech_requests_are_400s_that_say_why(
    served: Served, body: dict[str, object], needle: str
) -> None:
    app, client = served
    r = await client.post("/v1/audio/speech", json=body, headers=AUTH)
    assert r.status_code == 400 and needle in r.json()["error"]["message"]
    assert app.state.speech_streams_started == 0


async def test_hanging_up_mid_stream_counts_as_aborted() -> None:
    app = fake_speech_app(chunk_interval_s=0.05)
    async with serve_app(app) as base, httpx.AsyncClient(base_url=base) as client:
        body = speech_body("x" * 200)  # 12 s of audio, 6 s to send: far longer than we wait
        async with client.stream("POST", "/v1/audio/speech", json=body, headers=AUTH) as r:
            received = 0
            async for chunk in r.aiter_raw():
                received += len(chunk)
                if received >= 3 * 4800:
                    break
        await until(lambda: app.state.speech_streams_aborted == 1)
        assert app.state.speech_streams_started == 1
        assert app.state.speech_streams_finished == 0


async def test_a_wav_upload_is_transcribed_and_recorded(served: Served) -> None:
    app, client = served
    app.state.transcript = "what a lovely day"
    files = {"file": ("turn.wav", make_wav(500), "audio/wav")}
    form = {"model": "gpt-4o-transcribe", "language": "en", "temperature": "0.2"}
    r = await client.post("/v1/audio/transcriptions", files=files, data=form, headers=AUTH)
    assert r.status_code == 200 and r.json() == {"text": "what a lovely day"}
    record = app.state.transcription_requests[0]
    assert record["model"] == "gpt-4o-transcribe" and record["filename"] == "turn.wav"
    assert (record["sample_rate"], record["channels"], record["sample_width"]) == (16000, 1, 2)
    assert record["duration_ms"] == 500 and record["language"] == "en"
    assert record["temperature"] == "0.2"

    form["response_format"] = "text"
    r = await client.post("/v1/audio/transcriptions", files=files, data=form, headers=AUTH)
    assert r.status_code == 200 and r.text == "what a lovely day"
    assert r.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    ("audio", "form", "needle"),
    [
        (make_wav(50), {"model": "whisper-1"}, "Minimum audio length is 0.1 seconds."),
        (b"ID3 this is an mp3, honest", {"model": "whisper-1"}, "Invalid file format"),
        (make_wav(500), {}, "'model'"),
        (make_wav(500), {"model": "whisper-1", "response_format": "srt"}, "json and text"),
    ],
)
async def test_bad_transcription_requests_are_400s_that_say_why(
    served: Served, audio: bytes, form: dict[str, str], needle: str
) -> None:
    _, client = served
    files = {"file": ("a.wav", audio, "audio/wav")}
    r = await client.post("/v1/audio/transcriptions", files=files, data=form, headers=AUTH)
    assert r.status_code == 400
    error = r.json()["error"]
    assert needle in error["message"] and error["type"] == "invalid_request_error"
