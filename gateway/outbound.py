"""The one sending loop every transport shares: queue -> credit -> wire."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gateway.audio.frames import AudioChunk
from gateway.flow.confirmation import Mark
from gateway.flow.playout import PlayoutFlow
from gateway.pipeline.audio_queue import AudioQueue
from gateway.turns import TurnState
from gateway.wire import Transport


class PlayoutStalled(Exception):
    """The far end stopped confirming playout while the window was full."""


class OutboundPump:
    """Sends live audio only within the window; marks idle points; drops stale turns.

    The pump never paces by time: the far end's confirmations are the pace.
    """

    def __init__(
        self,
        queue: AudioQueue,
        flow: PlayoutFlow,
        transport: Transport,
        turns: TurnState,
        stall_timeout_s: float,
        on_first_send: Callable[[AudioChunk], None],
        on_stale_drop: Callable[[AudioChunk], None],
    ) -> None:
        self.queue = queue
        self.flow = flow
        self.transport = transport
        self.turns = turns
        self.stall_timeout_s = stall_timeout_s
        self._on_first_send = on_first_send
        self._on_stale_drop = on_stale_drop
        self._credit = asyncio.Event()
        self._last_turn_sent = 0
        self.sent_ms = 0

    def wake(self) -> None:
        """Credit came back (an echo, a grant, a clear)."""
        self._credit.set()

    async def _send_mark(self, mark: Mark | None) -> None:
        if mark is not None:
            await self.transport.send_mark(mark)

    async def _wait_for_credit(self, ms: int) -> None:
        while not self.flow.window.can_send(ms):
            self._credit.clear()
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for swallows a
            # cancel that lands as the credit arrives, and a hung-up call's pump
            # then waited out the whole stall timeout before the call could end.
            try:
                async with asyncio.timeout(self.stall_timeout_s):
                    await self._credit.wait()
            except TimeoutError:
                raise PlayoutStalled(
                    f"no playout confirmation for {self.stall_timeout_s:g} s "
                    f"with {self.flow.window.in_flight_ms} ms in flight"
                ) from None

    async def run(self) -> None:
        while True:
            chunk = self.queue.get_nowait()
            if chunk is None:
                # Idle: mark what was sent so its credit and position come back.
                await self._send_mark(self.flow.flush())
                chunk = await self.queue.get()
            if not self.turns.is_live(chunk.turn_id):
                self._on_stale_drop(chunk)
                continue
            if self.flow.needs_flush_before(chunk.turn_id):
                await self._send_mark(self.flow.flush())
            await self._wait_for_credit(chunk.duration_ms)
            if not self.turns.is_live(chunk.turn_id):
                self._on_stale_drop(chunk)
                continue
            await self.transport.send_audio(chunk)
            if not self.turns.is_live(chunk.turn_id):
                # Interrupted while the frame was being written; the clear that
                # followed it on the wire dropped it and reset the window.
                continue
            mark = self.flow.on_sent(chunk)
            self.sent_ms += chunk.duration_ms
            if chunk.turn_id != self._last_turn_sent:
                self._last_turn_sent = chunk.turn_id
                self._on_first_send(chunk)
            await self._send_mark(mark)
