"""A client that behaves like Twilio Media Streams, for tests and benchmarks.

It sends `media` every 20 ms in real time, plays what it receives in real time
from a buffer as deep as Twilio's, echoes each mark only once the audio before
it has played, and on `clear` drops its buffer and echoes every pending mark at
once. Everything it plays is logged on the monotonic clock.
"""

from __future__ import annotations

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
from gateway.audio.resample import StreamResampler
from gateway.testing.playout import Listener, Received
from gateway.testing.realtime_caller import RealtimeCaller

ULAW_FRAME = 160


@dataclass(slots=True)
class _Audio:
    data: bytes
    source: Received


@dataclass(slots=True)
class _Mark:
    name: str


class TwilioCaller(RealtimeCaller):
    def __init__(
        self,
        url: str,
        *,
        token: str | None = None,
        echo_marks: bool = True,
        noise_dbfs: float | None = None,
        listener: Listener | None = None,
        max_buffer_s: float = 600.0,
        call_sid: str | None = None,
        keep_heard_s: float = 0.0,
    ) -> None:
        """`call_sid`: the CallSid of the webhook that issued `token` (Twilio sends the same).
        `keep_heard_s`: keep up to this much of the μ-law played, in `heard`."""
        super().__init__(noise_dbfs=noise_dbfs, listener=listener)
        self.url = url
        self.token = token
        self.echo_marks = echo_marks
        self.stream_sid = "MZ" + secrets.token_hex(16)
        self.call_sid = call_sid or "CA" + secrets.token_hex(16)
        self.marks_echoed: list[tuple[float, str]] = []
        self.heard = bytearray()
        self._keep_heard_bytes = int(keep_heard_s * 8000)
        self.clears: list[float] = []
        self.received_media = 0
        self.media_sizes: list[int] = []
        # Twilio buffers up to ten minutes; so does this client.
        self._buffer: deque[_Audio | _Mark] = deque(maxlen=int(max_buffer_s * 50) * 2)
        self._buffered_bytes = 0
        self._max_buffer_bytes = int(max_buffer_s * 8000)
        self._unattributed: list[Received] = []
        self._down = StreamResampler(INTERNAL_RATE, 8000)
        self._ws: websockets.ClientConnection | None = None
        self._sequence = 0
        self._chunk = 0

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
        start = {
            "accountSid": "AC" + "0" * 32,
            "callSid": self.call_sid,
            "streamSid": self.stream_sid,
            "tracks": ["inbound"],
            "customParameters": params,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self._ws.send(self._message("start", streamSid=self.stream_sid, start=start))
        self._start_loops(self._receive_loop)

    async def hang_up(self) -> None:
        if self._ws is not None and self.close_code is None:
            try:
                await self._ws.send(self._message("stop", stop={"callSid": self.call_sid}))
            except websockets.ConnectionClosed:
                pass
        await self._stop_loops()
        if self._ws is not None:
            await self._ws.close()

    async def send_dtmf(self, digit: str) -> None:
        """A key press, as Twilio reports it."""
        assert self._ws is not None
        dtmf = {"track": "inbound_track", "digit": digit}
        await self._ws.send(self._message("dtmf", streamSid=self.stream_sid, dtmf=dtmf))

    async def _send_mic(self, samples: np.ndarray) -> None:
        assert self._ws is not None
        self._chunk += 1
        ulaw = mulaw.encode(self._down.process(samples))
        media = {
            "track": "inbound",
            "chunk": str(self._chunk),
            "timestamp": str((self._chunk - 1) * 20),
            "payload": base64.b64encode(ulaw).decode(),
        }
        try:
            await self._ws.send(self._message("media", streamSid=self.stream_sid, media=media))
        except websockets.ConnectionClosed:
            pass

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
        if len(self.media_sizes) < 64:
            self.media_sizes.append(len(data))  # the first messages show how a turn starts
        if self._buffered_bytes + len(data) > self._max_buffer_bytes:
            return  # Twilio discards past its buffer limit
        source = Received()
        self._unattributed.append(source)
        self._buffer.append(_Audio(data, source))
        self._buffered_bytes += len(data)
        self._arrived(len(data) / 8)

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

    async def _take_frame(self) -> tuple[int, Received | None]:
        # Marks at the head: everything before them has finished playing.
        while self._buffer and isinstance(self._buffer[0], _Mark):
            await self._echo(self._buffer.popleft().name)
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
            if len(self.heard) + len(take) <= self._keep_heard_bytes:
                self.heard += take
            need -= len(take)
            self._buffered_bytes -= len(take)
            if len(take) == len(head.data):
                self._buffer.popleft()
            else:
                head.data = head.data[len(take) :]
        return (ULAW_FRAME - need) // 8, source

    @property
    def buffered_ms(self) -> float:
        return self._buffered_bytes / 8
