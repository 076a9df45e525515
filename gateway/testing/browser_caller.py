"""A client of the browser protocol (sluice.browser v1) that behaves like the
page: it plays in real time from a bounded ring, grants the milliseconds it
plays, acks its played position, and empties the ring on `clear`.
"""

from __future__ import annotations

import json
import time
from collections import deque

import numpy as np
import websockets

from gateway.audio.frames import FRAME_BYTES, FRAME_MS
from gateway.testing.playout import Listener, Received
from gateway.testing.realtime_caller import RealtimeCaller
from transports.websocket import protocol

ACK_EVERY_MS = 100


class BrowserCaller(RealtimeCaller):
    def __init__(
        self,
        url: str,
        *,
        window_ms: int = 800,
        token: str = "",
        origin: str | None = None,
        grant: bool = True,
        ring_ms: int = 4000,
        noise_dbfs: float | None = None,
        listener: Listener | None = None,
        audio_ms: int = protocol.MAX_AUDIO_MS,
    ) -> None:
        """`audio_ms`: the most audio taken in one server message (hello's audio_ms)."""
        super().__init__(noise_dbfs=noise_dbfs, listener=listener)
        self.url = url
        self.window_ms = window_ms
        self.audio_ms = audio_ms
        self.audio_messages = 0
        self.largest_message_ms = 0
        self.token = token
        self.origin = origin
        self.grant = grant
        self.welcome: dict = {}
        self.events: list[dict] = []
        self.clears: list[tuple[float, dict]] = []
        self.protocol_errors: list[dict] = []
        self.epoch = 0
        self._ring: deque[tuple[int, int, bytes, Received]] = deque(maxlen=ring_ms // FRAME_MS)
        self._sources: dict[int, Received] = {}
        self._played_since_grant = 0
        self._last_played: tuple[int, int] | None = None
        self._ws: websockets.ClientConnection | None = None

    async def __aenter__(self) -> BrowserCaller:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def connect(self) -> None:
        headers = {"Origin": self.origin} if self.origin else None
        self._ws = await websockets.connect(self.url, additional_headers=headers, max_size=2**20)
        hello = {
            "type": "hello",
            "protocol": protocol.PROTOCOL,
            "version": protocol.VERSION,
            "token": self.token,
            "window_ms": self.window_ms,
            "audio_ms": self.audio_ms,
            "client": {"transport": "python"},
        }
        try:
            await self._ws.send(json.dumps(hello))
            first = json.loads(await self._ws.recv())
        except websockets.ConnectionClosed:
            first = {}  # refused before the hello was read; the error came first
        if first.get("type") != "welcome":
            if first:
                self.protocol_errors.append(first)
            await self._drain_close()
            return
        self.welcome = first
        self.epoch = first["epoch"]
        self._start_loops(self._receive_loop)

    async def _drain_close(self) -> None:
        assert self._ws is not None
        try:
            while True:
                raw = await self._ws.recv()
                if isinstance(raw, str):
                    self.protocol_errors.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass
        self.close_code = self._ws.close_code
        self.close_reason = self._ws.close_reason or ""

    async def hang_up(self) -> None:
        if self._ws is not None and self.close_code is None:
            try:
                await self._ws.send(json.dumps({"type": "bye"}))
            except websockets.ConnectionClosed:
                pass
        await self._stop_loops()
        if self._ws is not None:
            await self._ws.close()

    async def send_raw(self, data: str | bytes) -> None:
        assert self._ws is not None
        await self._ws.send(data)

    async def _send_mic(self, samples: np.ndarray) -> None:
        assert self._ws is not None
        try:
            await self._ws.send(samples.astype(np.int16).tobytes())
        except websockets.ConnectionClosed:
            pass

    async def _receive_loop(self) -> None:
        assert self._ws is not None
        try:
            async for raw in self._ws:
                if isinstance(raw, bytes):
                    self._on_audio(raw)
                    continue
                message = json.loads(raw)
                kind = message.get("type")
                if kind == "clear":
                    self._on_clear(message)
                elif kind == "error":
                    self.protocol_errors.append(message)
                else:
                    self.events.append(message)
        except websockets.ConnectionClosed:
            pass
        self.close_code = self._ws.close_code or 1006
        self.close_reason = self._ws.close_reason or ""

    def _on_audio(self, data: bytes) -> None:
        turn, offset, pcm = protocol.parse_audio_frame(data)
        source = self._sources.setdefault(turn, Received(turn))
        if len(self._sources) > 16:
            self._sources.pop(next(iter(self._sources)))
        self.audio_messages += 1
        self.largest_message_ms = max(self.largest_message_ms, len(pcm) // 32)
        if len(pcm) > self.audio_ms * 32 or len(pcm) % FRAME_BYTES:
            self.errors.append(f"{len(pcm)} bytes in one message: not whole frames up to audio_ms")
        for at in range(0, len(pcm), FRAME_BYTES):  # the ring plays 20 ms a tick
            if len(self._ring) == self._ring.maxlen:
                self.errors.append("ring overflow: the server sent past the window")
            self._ring.append((turn, offset + at // 32, pcm[at : at + FRAME_BYTES], source))
        self._arrived(len(pcm) / 32)

    def _on_clear(self, message: dict) -> None:
        self.clears.append((time.monotonic(), message))
        self.epoch = message["epoch"]
        kept = [f for f in self._ring if f[0] != message["turn"]]
        self._ring.clear()
        self._ring.extend(kept)
        self._played_since_grant = 0

    async def _take_frame(self) -> tuple[int, Received | None]:
        if not self._ring:
            return 0, None
        turn, offset, pcm, source = self._ring.popleft()
        ms = len(pcm) // 32
        self._played_since_grant += ms
        self._last_played = (turn, offset + ms)
        if self._played_since_grant >= ACK_EVERY_MS or not self._ring:
            # Every 100 ms, and whenever the ring runs dry, so the end of a turn is confirmed.
            await self._ack()
        return ms, source

    async def _ack(self) -> None:
        assert self._ws is not None
        messages = []
        if self.grant:
            messages.append({"type": "grant", "ms": self._played_since_grant, "epoch": self.epoch})
        if self._last_played is not None:
            turn, position = self._last_played
            messages.append({"type": "played", "turn": turn, "position_ms": position})
        self._played_since_grant = 0
        try:
            for message in messages:
                await self._ws.send(json.dumps(message))
        except websockets.ConnectionClosed:
            pass

    @property
    def buffered_ms(self) -> float:
        return sum(len(f[2]) for f in self._ring) / 32
