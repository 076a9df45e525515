"""What one WebSocket connection has queued to write, bounded in bytes.

The credit window bounds audio, but a peer that stops reading still lets
events pile up behind a blocked write. Past `warn_bytes` the connection is
unhealthy (a metric and a warning, once); past `limit_bytes` it is hopeless
and `put` says so, so the adapter can close it instead of growing.

A sender that can outrun the socket waits in `until_below` first, as a stack
awaiting `ws.send()` would: the naive baseline's pump writes a whole reply at
TTS speed, and a real TCP path (slow start, a lossy link) takes it far slower
than loopback does.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass


@dataclass(slots=True)
class Outgoing:
    data: bytes | str
    turn: int | None = None
    """Audio carries its turn so that a clear can drop it before it is written."""

    @property
    def size(self) -> int:
        return len(self.data)


class SendQueue:
    def __init__(self, limit_bytes: int = 1 << 20, warn_bytes: int = 256 << 10) -> None:
        self.limit_bytes = limit_bytes
        self.warn_bytes = warn_bytes
        # Every item is at least one byte, so the byte limit bounds the count.
        self._items: deque[Outgoing] = deque(maxlen=limit_bytes)
        self.queued_bytes = 0
        self.peak_bytes = 0
        self.warned = False
        self._ready = asyncio.Event()
        self._taken = asyncio.Event()
        """Set when bytes leave the queue (written, dropped) or it is given up."""
        self._released = False

    def put(self, item: Outgoing) -> bool:
        """False when the item would pass the limit: the peer is not reading."""
        if self.queued_bytes + item.size > self.limit_bytes:
            return False
        self._items.append(item)
        self.queued_bytes += item.size
        self.peak_bytes = max(self.peak_bytes, self.queued_bytes)
        self._ready.set()
        return True

    @property
    def over_warning(self) -> bool:
        return self.queued_bytes > self.warn_bytes

    async def get(self) -> Outgoing:
        while not self._items:
            self._ready.clear()
            await self._ready.wait()
        item = self._items.popleft()
        self.queued_bytes -= item.size
        self._taken.set()
        return item

    async def until_below(self, mark_bytes: int, stall_s: float) -> bool:
        """Wait until at most `mark_bytes` are queued, or the queue is released.
        False if nothing left the queue for `stall_s`: the peer is not reading."""
        while self.queued_bytes > mark_bytes and not self._released:
            self._taken.clear()
            try:
                async with asyncio.timeout(stall_s):
                    await self._taken.wait()
            except TimeoutError:
                return False
        return True

    def release(self) -> None:
        """Nothing will be written any more: no sender waits for room."""
        self._released = True
        self._taken.set()

    def drop_turn(self, turn: int) -> int:
        kept = [item for item in self._items if item.turn != turn]
        dropped = sum(item.size for item in self._items) - sum(item.size for item in kept)
        self._items.clear()
        self._items.extend(kept)
        self.queued_bytes -= dropped
        self._taken.set()
        return dropped
