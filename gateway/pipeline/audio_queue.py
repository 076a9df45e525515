"""The bounded, turn-aware queue of agent audio in front of the transport."""

from __future__ import annotations

import asyncio
from collections import deque

from gateway.audio.frames import FRAME_MS, AudioChunk


class AudioQueue:
    """Holds at most `limit_ms` of audio. A full queue makes `put` wait: that
    wait is the backpressure that reaches TTS and the agent.
    """

    def __init__(self, limit_ms: int) -> None:
        if limit_ms < FRAME_MS:
            raise ValueError(f"the queue must hold at least one {FRAME_MS} ms frame")
        self.limit_ms = limit_ms
        self._chunks: deque[AudioChunk] = deque(maxlen=limit_ms // FRAME_MS + 1)
        self._buffered_ms = 0
        self._not_full = asyncio.Event()
        self._not_full.set()
        self._not_empty = asyncio.Event()
        self.peak_ms = 0

    @property
    def buffered_ms(self) -> int:
        return self._buffered_ms

    async def put(self, chunk: AudioChunk) -> None:
        while self._buffered_ms + chunk.duration_ms > self.limit_ms:
            self._not_full.clear()
            await self._not_full.wait()
        self._chunks.append(chunk)
        self._buffered_ms += chunk.duration_ms
        self.peak_ms = max(self.peak_ms, self._buffered_ms)
        self._not_empty.set()

    def get_nowait(self) -> AudioChunk | None:
        if not self._chunks:
            self._not_empty.clear()
            return None
        chunk = self._chunks.popleft()
        self._buffered_ms -= chunk.duration_ms
        self._not_full.set()
        return chunk

    def peek(self) -> AudioChunk | None:
        """The chunk `get_nowait` would return, left in the queue."""
        return self._chunks[0] if self._chunks else None

    async def get(self) -> AudioChunk:
        while True:
            chunk = self.get_nowait()
            if chunk is not None:
                return chunk
            await self._not_empty.wait()

    def drop_turn(self, turn_id: int) -> int:
        """Remove every chunk of the turn; returns the milliseconds dropped."""
        kept = [c for c in self._chunks if c.turn_id != turn_id]
        dropped = self._buffered_ms - sum(c.duration_ms for c in kept)
        self._chunks.clear()
        self._chunks.extend(kept)
        self._buffered_ms -= dropped
        self._not_full.set()
        return dropped
