"""One call: the shared pipeline wired to one transport.

Inbound: frames -> VAD -> utterance -> STT -> a new turn. Outbound: the turn's
spoken pieces -> 20 ms chunks -> bounded queue -> pump -> transport. Barge-in:
cancel the turn's work, then drop its audio here, then clear the far end.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.audio.frames import FRAME_BYTES, AudioChunk, split_frames
from gateway.clock import Clock
from gateway.events import (
    AgentText,
    CallEnded,
    CallEvent,
    Dtmf,
    Interrupted,
    PlayoutPosition,
    StateChanged,
    Transcript,
)
from gateway.flow.inbound import InboundBudget
from gateway.flow.marks import Cleared
from gateway.flow.playout import PlayoutFlow
from gateway.metrics import GatewayMetrics
from gateway.outbound import OutboundPump, PlayoutStalled
from gateway.pipeline.agent import Message
from gateway.pipeline.audio_queue import AudioQueue
from gateway.pipeline.segmenter import SpeechEnded, SpeechStarted, VadSettings
from gateway.pipeline.stt import SttStream
from gateway.pipeline.vad import VoiceDetector, VoiceModel
from gateway.pipeline.voice import SpokenPiece, Voice
from gateway.turn_record import TurnRecord
from gateway.turns import Interrupt, Transition, TurnPhase, TurnState
from transports.base import Transport

log = logging.getLogger(__name__)

_HISTORY_MESSAGES = 40
_TURNS_KEPT = 8
_FINISHED = TurnRecord(0, 0.0, finished=True)


@dataclass(frozen=True, slots=True)
class CallSettings:
    greeting: str = "Hello! This is Sluice. How can I help you today?"
    output_queue_ms: int = 200
    stall_timeout_s: float = 10.0
    send_clear: bool = True
    """False only for the naive baseline: the far end plays out whatever it holds."""
    inbound_burst_ms: int = 2000
    """Caller audio allowed ahead of real time (see gateway/flow/inbound.py)."""
    vad: VadSettings = field(default_factory=VadSettings)


@dataclass(slots=True)
class InterruptRecord:
    turn_id: int
    at: float
    speech_began_at: float
    cancelled_work: bool
    dropped_queue_ms: int
    dropped_in_flight_ms: int
    heard_ms: int
    cleared_at: float


class Call:
    def __init__(
        self,
        call_id: str,
        transport: Transport,
        flow: PlayoutFlow,
        voice: Voice,
        vad_model: VoiceModel,
        settings: CallSettings,
        clock: Clock,
        metrics: GatewayMetrics,
    ) -> None:
        self.call_id = call_id
        self.transport = transport
        self.flow: Any = flow  # PlayoutFlow plus its wire's confirmation methods
        self.voice = voice
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.kind = transport.kind
        self.turns = TurnState(clock)
        self.queue = AudioQueue(settings.output_queue_ms)
        self.vad = VoiceDetector(vad_model, settings.vad)
        self.history: deque[Message] = deque(maxlen=_HISTORY_MESSAGES)
        self.records: dict[int, TurnRecord] = {}
        self.interrupts: list[InterruptRecord] = []
        self.listeners: list[Callable[[CallEvent], None]] = []
        self.pump = OutboundPump(
            self.queue,
            flow,
            transport,
            self.turns,
            settings.stall_timeout_s,
            on_first_send=self._on_first_send,
            on_stale_drop=self._on_stale_drop,
        )
        self._reply_task: asyncio.Task | None = None
        self._understand_task: asyncio.Task | None = None
        self._stt: SttStream | None = None
        # One recognition job per call at a time, and at most one utterance
        # waiting behind it: the shared recogniser then serves calls in turn.
        self._stt_waiting: tuple[SttStream, float] | None = None
        self.inbound = InboundBudget(clock, settings.inbound_burst_ms)
        self._flood_logged = False
        # Audio from just before speech start, so STT hears the first syllable.
        self._preroll: deque[bytes] = deque(maxlen=max(1, settings.vad.preroll_ms // 20))
        self._pending_user_text: list[str] = []
        self._speech_began_at = 0.0
        self._speech_ended_at = 0.0
        self._tasks: set[asyncio.Task] = set()
        self._closed = asyncio.Event()
        self.end_reason: str | None = None
        self.started_at = clock.now()
        self.starved_frames = 0
        self._started = False

    @property
    def window(self):
        return self.flow.window

    # ---- lifecycle -------------------------------------------------------

    async def run(self) -> str:
        """Serve the call until it ends; returns the reason it ended."""
        self._started = True
        self.metrics.calls.labels(self.kind).inc()
        self.metrics.calls_active.labels(self.kind).inc()
        self.metrics.track(self)
        pump = self._spawn(self.pump.run(), "pump")
        if self.settings.greeting:
            self._start_turn(lambda: self.voice.say(self.settings.greeting))
        try:
            await self._closed.wait()
        finally:
            await self._teardown(pump)
        return self.end_reason or "closed"

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = reason
        self._closed.set()

    async def _teardown(self, pump: asyncio.Task) -> None:
        tasks = [t for t in (*self._tasks, self._reply_task, self._understand_task) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self.metrics.calls_active.labels(self.kind).dec()
        self.metrics.calls_ended.labels(self.kind, self.end_reason or "closed").inc()
        self.metrics.peak_in_flight_ms.labels(self.kind).observe(self.flow.window.peak_in_flight_ms)
        self.metrics.untrack(self)
        self.emit(CallEnded(self.end_reason or "closed"))

    def _spawn(self, coro, name: str) -> asyncio.Task:
        task = asyncio.create_task(coro, name=f"{self.call_id}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, PlayoutStalled):
            log.warning("ending call: %s", exc)
            self.metrics.stalls.labels(self.kind).inc()
            self.end("playout stalled")
        elif exc is not None:
            log.error("call task %s failed", task.get_name(), exc_info=exc)
            self.end("internal error")

    def emit(self, event: CallEvent) -> None:
        self.transport.send_event(event)
        for listener in self.listeners:
            listener(event)

    def _emit_transition(self, transition: Transition | None) -> None:
        if transition is not None:
            self.emit(StateChanged(transition.phase.value, transition.turn_id))

    # ---- inbound ---------------------------------------------------------

    async def on_audio(self, pcm: bytes) -> None:
        """Caller audio at the internal rate, any whole number of frames."""
        ms = len(pcm) // FRAME_BYTES * 20
        if not self.inbound.admit(ms):
            self.metrics.inbound_dropped_ms.labels(self.kind).inc(ms)
            if not self._flood_logged:
                self._flood_logged = True
                log.warning("caller audio arrives faster than real time; dropping the surplus")
            return
        for offset in range(0, len(pcm) - FRAME_BYTES + 1, FRAME_BYTES):
            frame = pcm[offset : offset + FRAME_BYTES]
            if self._stt is None:
                self._preroll.append(frame)
            else:
                self._stt.feed(frame)
            for event in self.vad.feed(frame):
                if isinstance(event, SpeechStarted):
                    await self._on_speech_started(event)
                else:
                    self._on_speech_ended(event)

    async def _on_speech_started(self, event: SpeechStarted) -> None:
        now = self.clock.now()
        self._speech_began_at = now - event.voiced_ms_before / 1000
        self._stt = self.voice.listen()
        self._stt.feed(b"".join(self._preroll))
        self._preroll.clear()
        interrupt = self.turns.on_speech_start()
        if interrupt is not None:
            await self._barge_in(interrupt)

    def _on_speech_ended(self, event: SpeechEnded) -> None:
        self._speech_ended_at = self.clock.now() - self.settings.vad.min_silence_ms / 1000
        stream, self._stt = self._stt, None
        if stream is None:
            return
        if self._understand_task is not None and not self._understand_task.done():
            if self._stt_waiting is not None:
                self.metrics.stt_dropped.labels(self.kind).inc()
            self._stt_waiting = (stream, self._speech_ended_at)
            return
        self._understand_task = self._spawn(
            self._understand_each(stream, self._speech_ended_at), "stt"
        )

    async def _understand_each(self, stream: SttStream, ended_at: float) -> None:
        while True:
            await self._understand(stream, ended_at)
            if self._stt_waiting is None:
                return
            (stream, ended_at), self._stt_waiting = self._stt_waiting, None

    async def _understand(self, stream: SttStream, ended_at: float) -> None:
        try:
            text = (await stream.finish()).strip()
        except Exception:
            log.exception("speech recognition failed")
            self.metrics.agent_errors.labels(self.kind).inc()
            return
        self.metrics.turn_latency.labels(self.kind, "transcript").observe(
            self.clock.now() - ended_at
        )
        if text:
            self._pending_user_text.append(text)
            self.emit(Transcript(text))
        if self.vad.segmenter.speaking or not self._pending_user_text:
            return  # the caller is still talking: wait for the rest of the thought
        if self.turns.is_live(self.turns.turn_id):
            log.warning("transcript arrived while turn %d is live; dropped", self.turns.turn_id)
            self._pending_user_text.clear()
            return
        user_text = " ".join(self._pending_user_text)
        self._pending_user_text.clear()
        self.history.append(Message("user", user_text))
        history = list(self.history)
        self._start_turn(lambda: self.voice.respond(history), ended_at)

    def on_dtmf(self, digit: str) -> None:
        self.emit(Dtmf(digit))

    def on_mark(self, name: str) -> bool:
        """A mark echo arrived; returns False if the name was never sent."""
        echo = self.flow.on_echo(name)
        if echo.unknown:
            return False
        if echo.returned_ms:
            self.pump.wake()
        if echo.mark is not None:
            self._after_confirmation(echo.mark.turn_id, echo.mark.turn_pos_ms)
        return True

    def on_grant(self, ms: int, epoch: int) -> None:
        """The far end made room for `ms` more; raises BadGrant for nonsense."""
        if self.flow.on_grant(ms, epoch).returned_ms:
            self.pump.wake()

    def on_played(self, turn_id: int, position_ms: int) -> bool:
        """The far end played the turn up to `position_ms`; False if impossible."""
        if not self.flow.on_played(turn_id, position_ms):
            return False
        self._after_confirmation(turn_id, position_ms)
        return True

    def note_starved(self) -> None:
        """The output ran dry (a pacer sent silence): an underrun if the turn had more to say."""
        turn_id = self.turns.turn_id
        record = self.records.get(turn_id)
        if self.turns.is_live(turn_id) and record is not None and record.first_sent_at is not None:
            if not record.finished or self.queue.buffered_ms > 0:
                self.metrics.underruns.labels(self.kind).inc()
                self.starved_frames += 1

    def _after_confirmation(self, turn_id: int, position_ms: int) -> None:
        self.emit(PlayoutPosition(turn_id, position_ms))
        self._check_played_out(turn_id)
        if (
            self.flow.window.in_flight_ms == 0
            and self.turns.is_live(turn_id)
            and not self.records.get(turn_id, _FINISHED).finished
            and self.queue.buffered_ms == 0
        ):
            self.metrics.underruns.labels(self.kind).inc()

    # ---- outbound --------------------------------------------------------

    def _start_turn(self, speak, user_ended_at: float | None = None) -> None:
        turn_id = self.turns.begin_turn()
        self._emit_transition(self.turns.history[-1])
        record = TurnRecord(turn_id, started_at=self.clock.now(), user_ended_at=user_ended_at)
        self.records[turn_id] = record
        for old in [t for t in self.records if t <= turn_id - _TURNS_KEPT]:
            del self.records[old]
        self._reply_task = asyncio.create_task(
            self._produce(record, speak, user_ended_at), name=f"{self.call_id}:turn{turn_id}"
        )

    async def _produce(self, record: TurnRecord, speak, user_ended_at: float | None) -> None:
        first = True
        try:
            async for piece in speak():
                piece: SpokenPiece
                if first and user_ended_at is not None:
                    self.metrics.turn_latency.labels(self.kind, "first_audio_made").observe(
                        self.clock.now() - user_ended_at
                    )
                first = False
                frames = split_frames(piece.pcm)
                offset = record.produced_ms
                record.add(piece.text, len(frames) * 20)
                self.emit(AgentText(record.turn_id, piece.text))
                for i, frame in enumerate(frames):
                    await self.queue.put(AudioChunk(record.turn_id, frame, offset + i * 20))
        except asyncio.CancelledError:
            record.cancelled = True
            raise
        except Exception:
            log.exception("turn %d failed", record.turn_id)
            self.metrics.agent_errors.labels(self.kind).inc()
        record.finished = True
        self.history.append(Message("assistant", " ".join(s.text for s in record.spans)))
        self._check_played_out(record.turn_id)

    def _on_first_send(self, chunk: AudioChunk) -> None:
        record = self.records.get(chunk.turn_id)
        if record is not None and record.first_sent_at is None:
            record.first_sent_at = self.clock.now()
            if record.user_ended_at is not None:
                self.metrics.turn_latency.labels(self.kind, "first_audio_sent").observe(
                    record.first_sent_at - record.user_ended_at
                )
        self._emit_transition(self.turns.on_playout_started(chunk.turn_id))

    def _on_stale_drop(self, chunk: AudioChunk) -> None:
        self.metrics.stale_dropped_ms.labels(self.kind).inc(chunk.duration_ms)

    def _check_played_out(self, turn_id: int) -> None:
        record = self.records.get(turn_id)
        if record is None or not record.finished or not self.turns.is_live(turn_id):
            return
        if self.flow.confirmed_ms(turn_id) >= record.produced_ms:
            self._emit_transition(self.turns.on_played_out(turn_id))

    # ---- barge-in --------------------------------------------------------

    async def _barge_in(self, interrupt: Interrupt) -> None:
        turn_id = interrupt.turn_id
        self.metrics.interrupts.labels(self.kind).inc()
        self._emit_transition(self.turns.history[-1])
        # 1. Cancel the turn's agent and TTS work, and wait until it has stopped.
        task = self._reply_task
        cancelled = False
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=1.0)
            cancelled = task.cancelled()
        # 2. Drop what is queued here.
        dropped_queue = self.queue.drop_turn(turn_id)
        self.metrics.stale_dropped_ms.labels(self.kind).inc(dropped_queue)
        # 3. Tell the far end to drop what it holds; its pending marks are void.
        if self.settings.send_clear:
            cleared = self.flow.clear(turn_id)
            if interrupt.phase is TurnPhase.SPEAKING or cleared.dropped_ms:
                await self.transport.send_clear(cleared)
        else:
            # The naive baseline: the far end is never told, and plays on.
            cleared = Cleared(turn_id, 0, self.flow.position_ms(turn_id))
        self.pump.wake()
        record = self.records.get(turn_id)
        heard_text = record.heard_text(cleared.heard_ms) if record else ""
        self.voice.heard(self.history, heard_text)  # type: ignore[arg-type]
        self.interrupts.append(
            InterruptRecord(
                turn_id=turn_id,
                at=interrupt.at,
                speech_began_at=self._speech_began_at,
                cancelled_work=cancelled,
                dropped_queue_ms=dropped_queue,
                dropped_in_flight_ms=cleared.dropped_ms,
                heard_ms=cleared.heard_ms,
                cleared_at=self.clock.now(),
            )
        )
        del self.interrupts[:-16]
        log.info(
            "barge-in on turn %d: heard %d ms, dropped %d ms queued and %d ms in flight",
            turn_id,
            cleared.heard_ms,
            dropped_queue,
            cleared.dropped_ms,
        )
        self.emit(Interrupted(turn_id, cleared.heard_ms, heard_text, cleared.dropped_ms))
        self._emit_transition(self.turns.on_cleared(turn_id))
