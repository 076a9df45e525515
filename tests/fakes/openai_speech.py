"""A local fake of OpenAI's speech endpoints (TTS and transcription), for tests.

No hosted service is reachable here, so this plays the server's side of
`POST /v1/audio/speech` and `POST /v1/audio/transcriptions` as OpenAI's API reference
describes them: JSON body in, audio streamed out; multipart upload in, `{"text": ...}` out;
OpenAI-shaped errors. It serves only the formats a gateway needs (pcm and wav out, WAV in)
and refuses the rest loudly rather than return audio a client cannot decode.

`fake_speech_app()` serves both routes; `serve_app(app)` puts it on loopback for a test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import struct
import wave
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

SAMPLE_RATE = 24_000  # OpenAI's pcm output: 24 kHz, 16-bit little-endian, mono, no header
TONE_HZ = 300.0
TONE_DBFS = -12.0
MAX_INPUT_CHARS = 4096
MIN_TRANSCRIBE_MS = 100.0
DEFAULT_TRANSCRIPT = "hello there tell me a story"
_MEDIA_TYPES = {"pcm": "audio/pcm", "wav": "audio/wav"}


def openai_error(
    status: int, message: str, code: str | None = None, param: str | None = None
) -> JSONResponse:
    """The error envelope OpenAI's clients parse (`error.message`, `.type`, `.code`)."""
    kind = "invalid_request_error"
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return JSONResponse(body, status_code=status)


def wav_header(n_bytes: int, rate: int = SAMPLE_RATE) -> bytes:
    """A 44-byte canonical RIFF/WAVE header for 16-bit mono PCM of `n_bytes` bytes.

    Sizes are exact: the fake knows the length up front, and exact sizes let `wave` read it.
    """
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + n_bytes)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", n_bytes)
    )


def tone(start: int, count: int) -> bytes:
    """Samples start..start+count of the fake's voice; indexing by absolute sample keeps the
    phase continuous across chunks, so the stream is the same however it is cut."""
    amplitude = 32767 * 10 ** (TONE_DBFS / 20)
    n = np.arange(start, start + count, dtype=np.float64)
    samples = np.round(amplitude * np.sin(2 * math.pi * TONE_HZ * n / SAMPLE_RATE))
    return samples.astype("<i2").tobytes()


def _auth_error(request: Request, api_key: str) -> JSONResponse | None:
    header = request.headers.get("authorization")
    if not header:
        return openai_error(
            401,
            "You didn't provide an API key. You need to provide your API key in an "
            "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
        )
    if header != f"Bearer {api_key}":
        return openai_error(401, "Incorrect API key provided.", code="invalid_api_key")
    return None


def _speech_error(body: Any) -> JSONResponse | None:
    if not isinstance(body, dict):
        return openai_error(400, "The request body must be a JSON object.")
    for name in ("model", "input"):
        if not isinstance(body.get(name), str) or not body[name]:
            return openai_error(400, f"'{name}' is required: a non-empty string.", param=name)
    if len(body["input"]) > MAX_INPUT_CHARS:
        message = f"'input' is longer than {MAX_INPUT_CHARS} characters."
        return openai_error(400, message, code="string_above_max_length", param="input")
    voice = body.get("voice")
    if not (isinstance(voice, str) and voice) and not (isinstance(voice, dict) and "id" in voice):
        return openai_error(400, "'voice' is required: a name or {'id': ...}.", param="voice")
    fmt = body.get("response_format", "mp3")  # OpenAI's default when the field is missing
    if fmt not in _MEDIA_TYPES:
        message = f"response_format {fmt!r}: this fake only serves pcm and wav."
        return openai_error(400, message, code="unsupported_format", param="response_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, int | float) or isinstance(speed, bool) or not 0.25 <= speed <= 4:
        return openai_error(400, "'speed' must be a number from 0.25 to 4.0.", param="speed")
    if body.get("stream_format", "audio") != "audio":
        message = "stream_format: this fake only streams raw audio."
        return openai_error(400, message, param="stream_format")
    return None


def _read_wav(data: bytes) -> dict[str, Any] | None:
    """What `wave` makes of an upload, or None when it is not a PCM WAV."""
    try:
        with wave.open(io.BytesIO(data), "rb") as w:
            rate, frames = w.getframerate(), w.getnframes()
            info = {"sample_rate": rate, "channels": w.getnchannels()}
            info["sample_width"] = w.getsampwidth()
    except (wave.Error, EOFError, struct.error):
        return None
    info["duration_ms"] = frames * 1000 / rate if rate else 0.0
    return info


def fake_speech_app(
    api_key: str = "test-key",
    ms_per_char: int = 60,
    chunk_ms: int = 100,
    chunk_interval_s: float = 0.01,
) -> FastAPI:
    """Both routes. Speech lasts len(input) * ms_per_char ms, sent chunk_ms at a time every
    chunk_interval_s. On app.state: speech_requests, speech_streams_{started,finished,aborted},
    transcription_requests, and transcript (what every transcription returns; settable)."""
    app = FastAPI()
    app.state.speech_requests = []
    app.state.speech_streams_started = 0
    app.state.speech_streams_finished = 0
    app.state.speech_streams_aborted = 0
    app.state.transcription_requests = []
    app.state.transcript = DEFAULT_TRANSCRIPT

    async def audio(fmt: str, total_samples: int) -> AsyncIterator[bytes]:
        app.state.speech_streams_started += 1
        completed = False
        try:
            if fmt == "wav":
                yield wav_header(total_samples * 2)
            step = max(1, chunk_ms * SAMPLE_RATE // 1000)
            for start in range(0, total_samples, step):
                if start:
                    # Paced, so a client sees audio arrive over time and can hang up mid-way.
                    await asyncio.sleep(chunk_interval_s)
                yield tone(start, min(step, total_samples - start))
            completed = True
        finally:
            # Starlette cancels a stream whose client went away (CancelledError here), or
            # the generator is closed unfinished (GeneratorExit): either way, aborted.
            if completed:
                app.state.speech_streams_finished += 1
            else:
                app.state.speech_streams_aborted += 1

    @app.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        auth = request.headers.get("authorization")
        app.state.speech_requests.append({"body": body, "auth": auth})
        if (refusal := _auth_error(request, api_key) or _speech_error(body)) is not None:
            return refusal
        fmt = body["response_format"]
        total = len(body["input"]) * ms_per_char * SAMPLE_RATE // 1000
        return StreamingResponse(audio(fmt, total), media_type=_MEDIA_TYPES[fmt])

    @app.post("/v1/audio/transcriptions")
    async def transcriptions(request: Request) -> Response:
        if (refusal := _auth_error(request, api_key)) is not None:
            return refusal
        try:
            # `async with` closes the spooled upload files, which otherwise leak.
            async with request.form() as form:
                fields = {k: v for k, v in form.items() if isinstance(v, str)}
                upload = form.get("file")
                filename = upload.filename if isinstance(upload, UploadFile) else None
                data = await upload.read() if isinstance(upload, UploadFile) else None
        except Exception:  # starlette raises several kinds for a malformed body
            return openai_error(400, "The body must be multipart/form-data.")
        record: dict[str, Any] = {"model": fields.get("model"), "filename": filename}
        record.update((k, v) for k, v in fields.items() if k != "model")
        app.state.transcription_requests.append(record)
        if data is None:
            return openai_error(400, "'file' is required: an audio file upload.", param="file")
        wav = _read_wav(data)
        record.update(wav or {})
        if not fields.get("model"):
            return openai_error(400, "'model' is required.", param="model")
        fmt = fields.get("response_format", "json")
        if fmt not in ("json", "text"):
            message = f"response_format {fmt!r}: this fake only serves json and text."
            return openai_error(400, message, param="response_format")
        try:
            temperature = float(fields.get("temperature", "0"))
        except ValueError:
            return openai_error(400, "'temperature' must be a number.", param="temperature")
        if not 0 <= temperature <= 1:
            return openai_error(400, "'temperature' must be from 0 to 1.", param="temperature")
        if wav is None:
            message = "Invalid file format. This fake reads only PCM WAV files."
            return openai_error(400, message, code="invalid_value", param="file")
        if wav["duration_ms"] < MIN_TRANSCRIBE_MS:
            message = "Audio file is too short. Minimum audio length is 0.1 seconds."
            return openai_error(400, message, code="audio_too_short", param="file")
        text: str = app.state.transcript
        return PlainTextResponse(text) if fmt == "text" else JSONResponse({"text": text})

    return app


@contextlib.asynccontextmanager
async def serve_app(app: FastAPI, startup_timeout_s: float = 5.0) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 at a free port for the block; yields its base URL."""
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=0,
        log_config=None,
        lifespan="off",
        # Without a bound, shutdown waits forever on a stream a test left open.
        timeout_graceful_shutdown=1,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(startup_timeout_s):
            while not server.started:
                if task.done():  # a failed startup ends serve() instead of raising
                    raise RuntimeError("the fake server did not start")
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        # Past the grace period uvicorn cancels handlers still streaming but does not wait
        # for them; waiting here means their cleanup (the abort count) is done on exit.
        await asyncio.gather(*server.server_state.tasks, return_exceptions=True)
