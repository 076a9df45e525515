"""What every synthetic caller shares: a microphone that sends a 20 ms frame in
real time, a speaker that plays one 20 ms frame per tick, both on absolute
deadlines, and the log of what was played. Subclasses speak one wire each.
"""

from __future__ import annotations

import asyncio
import time

import numpy as np

from gateway.testing.microphone import Microphone, SpeaksThroughMicrophone
from gateway.testing.playout import Listener, PlayedFrame, PlayoutLog, Received

FRAME_S = 0.020


class RealtimeCaller(SpeaksThroughMicrophone):
    def __init__(
        self, *, noise_dbfs: float | None = None, listener: Listener | None = None
    ) -> None:
        self.log = PlayoutLog()
        self.listener = listener or Listener()
        self.close_code: int | None = None
        self.close_reason = ""
        self.errors: list[str] = []
        self.received_ms = 0.0
        self.peak_buffered_ms = 0.0
        """Largest buffer ever held, checked on every arrival, not only at play ticks."""
        self.started_at = 0.0
        self.mic = Microphone(noise_dbfs)
        self._tasks: list[asyncio.Task] = []

    # ---- for subclasses ------------------------------------------------

    async def _send_mic(self, samples: np.ndarray) -> None:
        """Send one 20 ms frame of 16 kHz caller audio on the wire."""
        raise NotImplementedError

    async def _take_frame(self) -> tuple[int, Received | None]:
        """Take up to 20 ms from the playout buffer: (ms taken, its source)."""
        raise NotImplementedError

    @property
    def buffered_ms(self) -> float:
        raise NotImplementedError

    def _start_loops(self, receive_loop) -> None:
        self.started_at = time.monotonic()
        self._tasks = [
            asyncio.create_task(self._send_loop()),
            asyncio.create_task(self._play_loop()),
            asyncio.create_task(receive_loop()),
        ]

    def _arrived(self, ms: float) -> None:
        self.received_ms += ms
        self.peak_buffered_ms = max(self.peak_buffered_ms, self.buffered_ms)

    async def _stop_loops(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ---- caller side ---------------------------------------------------

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def speaking(self) -> bool:
        return self.mic.speaking

    async def _send_loop(self) -> None:
        start = time.monotonic()
        n = 0
        while not self.closed:
            await self._send_mic(self.mic.next_frame())
            n += 1
            await asyncio.sleep(max(0.0, start + n * FRAME_S - time.monotonic()))

    async def _play_loop(self) -> None:
        start = time.monotonic()
        tick = self.listener.tick_s
        n = 0
        while True:
            at = start + n * tick
            if self.listener.stalled(at - start):
                self.log.add(PlayedFrame(at, 20, None), self.buffered_ms)
            else:
                ms, source = await self._take_frame()
                if ms:
                    self.log.add(PlayedFrame(at, ms, source), self.buffered_ms)
                else:
                    self.log.add(PlayedFrame(at, 20, None), 0.0)
            n += 1
            await asyncio.sleep(max(0.0, start + n * tick - time.monotonic()))

    async def wait_until(self, predicate, timeout: float, poll: float = 0.02) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            await asyncio.sleep(poll)
