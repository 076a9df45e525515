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
        on_send: Callable[[AudioChunk], None] = lambda chunk: None,
    ) -> None:
        self.queue = queue
        self.flow = flow
        self.transport = transport
        self.turns = turns
        self.stall_timeout_s = stall_timeout_s
        self._on_first_send = on_first_send
        self._on_stale_drop = on_stale_drop
        self._on_send = on_send
        self.batch_ms = getattr(transport, "batch_ms", FRAME_MS)
        """Most audio one send carries (see Transport.batch_ms)."""
        self.sends = 0
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

    def _peek(self) -> AudioChunk | None:
        return self._replay[0] if self._replay else self.queue.peek()

    def _take(self) -> AudioChunk | None:
        return self._replay.popleft() if self._replay else self.queue.get_nowait()

    def _gather(self, first: AudioChunk) -> list[AudioChunk]:
        """`first` and the audio ready to follow it now, sent as one message:
        the same turn, contiguous, within the credit, and never past the next
        mark. One message instead of eight per mark interval is most of what a
        talking call costs the loop; nothing waits for a batch to fill."""
        batch = [first]
        limit = min(self.batch_ms, self.flow.until_mark_ms())
        total = first.duration_ms
        while total < limit:
            after = self._peek()
            if (
                after is None
                or after.turn_id != first.turn_id
                or after.offset_ms != batch[-1].end_ms
                or bool(after.pcm) != bool(first.pcm)
                or bool(after.ulaw8k) != bool(first.ulaw8k)
                or total + after.duration_ms > limit
                or not self.flow.window.can_send(total + after.duration_ms)
            ):
                break
            self._take()
            batch.append(after)
            total += after.duration_ms
        return batch

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
            batch = self._gather(chunk) if self.batch_ms > chunk.duration_ms else [chunk]
            sent = batch[0] if len(batch) == 1 else _joined(batch)
            self._on_send(sent)
            self.sends += 1
            await self.transport.send_audio(sent)
            if not self.turns.is_live(chunk.turn_id):
                # Interrupted while the frame was being written; the clear that
                # followed it on the wire dropped it and reset the window.
                continue
            if chunk.turn_id == self._held:
                # Held while it was written: the clear after it drops it; keep it.
                self._unheard.extend(batch)
                continue
            mark = self.flow.on_sent(sent)
            for frame in batch:  # kept frame by frame: a resume starts at a frame
                self._keep_unheard(frame)
            self.sent_ms += sent.duration_ms
            if chunk.turn_id != self._last_turn_sent:
                self._last_turn_sent = chunk.turn_id
                self._on_first_send(chunk)
            await self._send_mark(mark)


def _joined(batch: list[AudioChunk]) -> AudioChunk:
    """Contiguous frames of one turn as one chunk."""
    first = batch[0]
    return AudioChunk(
        first.turn_id,
        b"".join(c.pcm for c in batch),
        first.offset_ms,
        b"".join(c.ulaw8k for c in batch),
    )
