"""The one sending loop every transport shares: queue -> credit -> wire."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from gateway.audio.frames import FRAME_MS, AudioChunk
from gateway.call.transport import Transport
from gateway.call.turns import TurnState
from gateway.flow.confirmation import Mark
from gateway.flow.playout import PlayoutFlow
from gateway.pipeline.audio_queue import AudioQueue

UNHEARD_SLACK_MS = 400
"""Kept past the window: on a paced wire the far end's jitter buffer holds audio
the window no longer counts, and a resume must be able to send it again."""


class PlayoutStalled(Exception):
    """The far end stopped confirming playout while the window was full."""


class OutboundPump:
    """Sends live audio only within the window; marks idle points; drops stale turns.

    The pump never paces by time: the far end's confirmations are the pace.

    A held turn (a provisional interrupt) sends nothing. The pump keeps the
    live turn's audio that was sent but not yet confirmed played, bounded by
    the window and a slack; a resume sends it again from the heard position,
    then goes on with the queue, so the listener loses nothing to a backchannel.
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
        self.resent_ms = 0
        """Audio sent again after a resume."""
        frames = (flow.window.limit_ms + UNHEARD_SLACK_MS) // FRAME_MS
        # One turn's frames within the window and slack; on overflow the oldest
        # go, the ones most surely heard. The replay adds the frame in hand.
        self._unheard: deque[AudioChunk] = deque(maxlen=frames)
        self._replay: deque[AudioChunk] = deque(maxlen=frames + 2)
        self._held: int | None = None
        self._released = asyncio.Event()
        self._released.set()
        self._replay_ready = asyncio.Event()

    def wake(self) -> None:
        """Credit came back (an echo, a grant, a clear)."""
        self._credit.set()

    # ---- provisional interrupts -------------------------------------------

    def hold(self, turn_id: int) -> None:
        """Send nothing more of the turn until `resume` or `forget`."""
        self._held = turn_id
        self._released.clear()
        self.wake()

    def resume(self, turn_id: int, from_ms: int) -> None:
        """Send the turn again from the frame that holds `from_ms`, then the queue."""
        if self._held != turn_id:
            return
        again = [c for c in self._unheard if c.turn_id == turn_id and c.end_ms > from_ms]
        self._unheard.clear()
        self._replay.extendleft(reversed(again))
        self.resent_ms += sum(c.duration_ms for c in again)
        self._release()

    def forget(self, turn_id: int) -> int:
        """The turn is over: drop what was kept of it; returns the milliseconds."""
        dropped = 0
        for kept in (self._unheard, self._replay):
            live = [c for c in kept if c.turn_id != turn_id]
            dropped += sum(c.duration_ms for c in kept) - sum(c.duration_ms for c in live)
            kept.clear()
            kept.extend(live)
        if self._held == turn_id:
            self._release()
        return dropped

    def _release(self) -> None:
        self._held = None
        self._released.set()
        if self._replay:
            self._replay_ready.set()
        self.wake()

    def _keep_unheard(self, chunk: AudioChunk) -> None:
        if self._unheard and self._unheard[-1].turn_id != chunk.turn_id:
            self._unheard.clear()  # only the live turn can resume
        heard = self.flow.confirmed_ms(chunk.turn_id)
        while self._unheard and self._unheard[0].end_ms <= heard:
            self._unheard.popleft()
        self._unheard.append(chunk)

    def _put_back(self, chunk: AudioChunk) -> None:
        """The turn is held: this frame goes first once it resumes."""
        self._replay.appendleft(chunk)

    # ---- sending -----------------------------------------------------------

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

    async def _next_chunk(self) -> AudioChunk:
        while True:
            if self._replay:
                return self._replay.popleft()
            chunk = self.queue.get_nowait()
            if chunk is not None:
                return chunk
            # Idle: mark what was sent so its credit and position come back.
            await self._send_mark(self.flow.flush())
            if self._replay:
                continue
            self._replay_ready.clear()
            getter = asyncio.ensure_future(self.queue.get())
            resumed = asyncio.ensure_future(self._replay_ready.wait())
            try:
                await asyncio.wait({getter, resumed}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                resumed.cancel()
                if not getter.done():
                    getter.cancel()
                    # A get cancelled at its wait takes nothing from the queue.
                    await asyncio.gather(getter, return_exceptions=True)
            if not getter.cancelled():
                self._replay.append(getter.result())  # queued audio follows any replay

    async def run(self) -> None:
        while True:
            chunk = await self._next_chunk()
            if not self.turns.is_live(chunk.turn_id):
                self._on_stale_drop(chunk)
                continue
            if chunk.turn_id == self._held:
                self._put_back(chunk)
                await self._released.wait()
                continue
            if self.flow.needs_flush_before(chunk.turn_id):
                await self._send_mark(self.flow.flush())
            await self._wait_for_credit(chunk.duration_ms)
            if not self.turns.is_live(chunk.turn_id):
                self._on_stale_drop(chunk)
                continue
            if chunk.turn_id == self._held:
                self._put_back(chunk)
                continue
            await self.transport.send_audio(chunk)
            if not self.turns.is_live(chunk.turn_id):
                # Interrupted while the frame was being written; the clear that
                # followed it on the wire dropped it and reset the window.
                continue
            if chunk.turn_id == self._held:
                # Held while it was written: the clear after it drops it; keep it.
                self._unheard.append(chunk)
                continue
            mark = self.flow.on_sent(chunk)
            self._keep_unheard(chunk)
            self.sent_ms += chunk.duration_ms
            if chunk.turn_id != self._last_turn_sent:
                self._last_turn_sent = chunk.turn_id
                self._on_first_send(chunk)
            await self._send_mark(mark)
