"""Speech to text. PocketSphinx decodes in worker processes.

PocketSphinx holds the GIL while it decodes (measured: a second-long decode
let a 1 ms ticker thread run 51 times), so a thread pool would stall every
call on the event loop. Worker processes load the model once each and decode
whole utterances; the stream interface lets a streaming backend plug in.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections.abc import Awaitable, Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Protocol

from gateway.audio.frames import INTERNAL_RATE


class SttStream(Protocol):
    def feed(self, pcm: bytes) -> None: ...

    async def finish(self) -> str: ...


class SpeechToText(Protocol):
    def open_stream(self) -> SttStream: ...

    async def warm_up(self) -> None: ...

    def close(self) -> None: ...


_decoder = None


def _load_decoder() -> None:
    global _decoder
    from pocketsphinx import Decoder

    # A decode may wait; the gateway process sending frames may not (it runs
    # at the normal priority, the workers below it on a saturated core).
    os.nice(5)

    # fwdflat off and a tighter HMM beam halve decode time; bestpath keeps accuracy.
    _decoder = Decoder(
        loglevel="FATAL", samprate=INTERNAL_RATE, fwdflat=False, bestpath=True, maxhmmpf=3000
    )


def _decode(pcm: bytes) -> str:
    assert _decoder is not None, "worker initializer did not run"
    _decoder.start_utt()
    _decoder.process_raw(pcm, full_utt=True)
    _decoder.end_utt()
    hyp = _decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


class BufferedUtterance:
    """An utterance held whole until its end, for recognisers that decode whole
    utterances; `decode` is the recogniser's, `min_bytes` the least worth sending."""

    def __init__(
        self, decode: Callable[[bytes], Awaitable[str]], max_bytes: int, min_bytes: int = 1
    ) -> None:
        self._decode = decode
        self._parts: list[bytes] = []
        self._size = 0
        self._max = max_bytes
        self._min = min_bytes

    def feed(self, pcm: bytes) -> None:
        # The VAD caps utterances; this cap only guards a misbehaving caller of feed().
        if self._size + len(pcm) <= self._max:
            self._parts.append(pcm)
            self._size += len(pcm)

    async def finish(self) -> str:
        pcm = b"".join(self._parts)
        self._parts.clear()
        if len(pcm) < self._min:
            return ""
        return await self._decode(pcm)


class PocketSphinxStt:
    def __init__(self, workers: int = 1, max_utterance_ms: int = 30_000) -> None:
        self._pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("forkserver"),
            initializer=_load_decoder,
        )
        self._max_bytes = max_utterance_ms * INTERNAL_RATE * 2 // 1000
        self.workers = workers

    def open_stream(self) -> SttStream:
        return BufferedUtterance(self.decode, self._max_bytes)

    async def decode(self, pcm: bytes) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, _decode, pcm)

    async def warm_up(self) -> None:
        """Start every worker and load its model before the first call needs it."""
        silence = bytes(INTERNAL_RATE // 5 * 2)
        await asyncio.gather(*(self.decode(silence) for _ in range(self.workers)))

    def close(self) -> None:
        # Join the workers: left running, they outlive the gateway holding its stdout.
        self._pool.shutdown(wait=True, cancel_futures=True)
