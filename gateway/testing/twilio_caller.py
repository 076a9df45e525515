"""A client that behaves like Twilio Media Streams, for tests and benchmarks.

It sends `media` every 20 ms in real time, plays what it receives in real time
from an unbounded-looking buffer (as Twilio does), echoes each mark only once
the audio before it has played, and on `clear` drops its buffer and echoes
every pending mark at once. Everything it plays is logged on the monotonic clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections import deque
from dataclasses import dataclass

import numpy as np
import websockets

from gateway.audio import mulaw
from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.resample import resample_once
from gateway.testing.playout import PlayedFrame, PlayoutLog, Received

FRAME_S = 0.020
ULAW_FRAME = 160
_ULAW_SILENCE = mulaw.encode(np.zeros(ULAW_FRAME, dtype=np.int16))


@dataclass(slots=True)
class _Audio:
    data: bytes
    source: Received


@dataclass(slots=True)
class _Mark:
    name: str


def to_ulaw(pcm16k: bytes) -> bytes:
    samples = np.frombuffer(pcm16k, dtype=np.int16)
    return mulaw.encode(resample_once(samples, INTERNAL_RATE, 8000))


class TwilioCaller:
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        echo_marks: bool = True,
        noise_dbfs: float | None = None,
        max_buffer_s: float = 600.0,
    ) -> None:
        self.url = url
        self.token = token
        self.echo_marks = echo_marks
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.call_sid = "CA" + secrets.token_hex(16)
        self.log = PlayoutLog()
        self.marks_echoed: list[tuple[float, str]] = []
        self.clears: list[float] = []
        self.close_code: int | None = None
        self.close_reason: str = ""
        self.errors: list[str] = []
        self.received_media = 0
        self.received_ms = 0.0
        self.peak_buffered_ms = 0.0
        """Largest buffer ever held, checked on every arrival, not only at play ticks."""
        self._buffer: deque[_Audio | _Mark] = deque()
        self._buffered_bytes = 0
        self._max_buffer_bytes = int(max_buffer_s * 8000)
        self._unattributed: list[Received] = []
        self._outgoing = bytearray()
        self._last_voiced_sent: float | None = None
        self.first_voiced_sent: float | None = None
        """When the first voiced frame of the latest `say` went out."""
        self._noise_rng = np.random.default_rng(7)
        self._noise_amp = 32768 * 10 ** (noise_dbfs / 20) if noise_dbfs is not None else 0.0
        self._ws: websockets.ClientConnection | None = None
        self._tasks: list[asyncio.Task] = []
        self._sequence = 0
        self._chunk = 0
        self.started_at = 0.0

    # ---- connection --------------------------------------------------------

    async def __aenter__(self) -> TwilioCaller:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    def _message(self, event: str, **body: object) -> str:
        self._sequence += 1
        return json.dumps({"event": event, "sequenceNumber": str(self._sequence), **body})

    async def connect(self) -> None:
        self._ws = await websockets.connect(self.url, max_size=2**20)
        await self._ws.send(self._message("connected", protocol="Call", version="1.0.0"))
        params = {"sluice_token": self.token} if self.token else {}
        await self._ws.send(
            self._message(
                "start",
                streamSid=self.stream_sid,
                start={
                    "accountSid": "AC" + "0" * 32,
                    "callSid": self.call_sid,
                    "streamSid": self.stream_sid,
                    "tracks": ["inbound"],
                    "customParameters": params,
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            )
        )
        self.started_at = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._play_loop()),
            asyncio.create_task(self._receive_loop()),
        ]

    async def hang_up(self) -> None:
        if self._ws is not None and self.close_code is None:
            try:
                await self._ws.send(self._message("stop", stop={"callSid": self.call_sid}))
            except websockets.ConnectionClosed:
                pass
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._ws is not None:
            await self._ws.close()

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    # ---- caller speech ----------------------------------------------------

    def say(self, pcm16k: bytes) -> None:
        """Queue speech; it goes out in real time, 20 ms per media message."""
        self._outgoing += to_ulaw(pcm16k)
        self.first_voiced_sent = None

    @property
    def speaking(self) -> bool:
        return len(self._outgoing) > 0

    @property
    def last_voiced_sent(self) -> float | None:
        return self._last_voiced_sent

    def _next_outgoing(self) -> bytes:
        if self._outgoing:
            chunk = bytes(self._outgoing[:ULAW_FRAME]).ljust(ULAW_FRAME, _ULAW_SILENCE[:1])
            del self._outgoing[:ULAW_FRAME]
            if np.abs(mulaw.decode(chunk).astype(np.int32)).max() > 300:
                self._last_voiced_sent = time.monotonic()
                if self.first_voiced_sent is None:
                    self.first_voiced_sent = self._last_voiced_sent
            return chunk
        if self._noise_amp:
            noise = self._noise_rng.normal(0, self._noise_amp, ULAW_FRAME).astype(np.int16)
            return mulaw.encode(noise)
        return _ULAW_SILENCE

    async def _send_loop(self) -> None:
        assert self._ws is not None
        start = time.monotonic()
        n = 0
        while True:
            self._chunk += 1
            payload = base64.b64encode(self._next_outgoing()).decode()
            media = {
                "track": "inbound",
                "chunk": str(self._chunk),
                "timestamp": str(n * 20),
                "payload": payload,
            }
            try:
                await self._ws.send(self._message("media", streamSid=self.stream_sid, media=media))
            except websockets.ConnectionClosed:
                return
            n += 1
            await asyncio.sleep(max(0.0, start + n * FRAME_S - time.monotonic()))

    # ---- agent audio ------------------------------------------------------

    async def _receive_loop(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                message = json.loads(raw)
                event = message.get("event")
                if event == "media":
                    self._on_media(base64.b64decode(message["media"]["payload"]))
                elif event == "mark":
                    self._on_mark(message["mark"]["name"])
                elif event == "clear":
                    await self._on_clear()
                else:
                    self.errors.append(f"unexpected event {event!r}")
        except websockets.ConnectionClosed as closed:
            rcvd = closed.rcvd
            self.close_code = rcvd.code if rcvd else 1006
            self.close_reason = rcvd.reason if rcvd else ""
            return
        self.close_code = self._ws.close_code or 1000
        self.close_reason = self._ws.close_reason or ""

    def _on_media(self, data: bytes) -> None:
        self.received_media += 1
        if self._buffered_bytes + len(data) > self._max_buffer_bytes:
            return  # Twilio discards past its buffer limit
        source = Received()
        self._unattributed.append(source)
        self._buffer.append(_Audio(data, source))
        self._buffered_bytes += len(data)
        self.received_ms += len(data) / 8
        self.peak_buffered_ms = max(self.peak_buffered_ms, self._buffered_bytes / 8)

    def _on_mark(self, name: str) -> None:
        turn = int(name.split(":", 1)[0]) if ":" in name else None
        for source in self._unattributed:
            source.turn = turn
        self._unattributed.clear()
        self._buffer.append(_Mark(name))

    async def _echo(self, name: str) -> None:
        if not self.echo_marks or self._ws is None:
            return
        self.marks_echoed.append((time.monotonic(), name))
        try:
            await self._ws.send(
                self._message("mark", streamSid=self.stream_sid, mark={"name": name})
            )
        except websockets.ConnectionClosed:
            pass

    async def _on_clear(self) -> None:
        self.clears.append(time.monotonic())
        pending = [item.name for item in self._buffer if isinstance(item, _Mark)]
        self._buffer.clear()
        self._buffered_bytes = 0
        for name in pending:
            await self._echo(name)

    async def _play_loop(self) -> None:
        start = time.monotonic()
        n = 0
        while True:
            # Marks at the head: everything before them has finished playing.
            while self._buffer and isinstance(self._buffer[0], _Mark):
                await self._echo(self._buffer.popleft().name)
            now = start + n * FRAME_S
            source = None
            need = ULAW_FRAME
            while need and self._buffer:
                head = self._buffer[0]
                if isinstance(head, _Mark):
                    # Reached inside this frame: the audio before it is playing out now.
                    self._buffer.popleft()
                    await self._echo(head.name)
                    continue
                source = source or head.source
                take = head.data[:need]
                need -= len(take)
                self._buffered_bytes -= len(take)
                if len(take) == len(head.data):
                    self._buffer.popleft()
                else:
                    head.data = head.data[len(take) :]
            played_ms = (ULAW_FRAME - need) // 8
            if played_ms:
                self.log.add(PlayedFrame(now, played_ms, source), self._buffered_bytes / 8)
            else:
                self.log.add(PlayedFrame(now, 20, None), 0.0)
            n += 1
            await asyncio.sleep(max(0.0, start + n * FRAME_S - time.monotonic()))

    @property
    def buffered_ms(self) -> float:
        return self._buffered_bytes / 8

    async def wait_until(self, predicate, timeout: float, poll: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(poll)
