"""One call: a transport, a voice session and the conversation core, run together.

The rules live in `Conversation` (sans-I/O); this runs its commands: it feeds
caller audio to the voice, queues the voice's audio for the pump, carries out
barge-ins (cancel the voice's work, drop the queue, clear the far end), and
forwards events to the transport and listeners.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.audio.frames import (
    FRAME_MS,
    AudioChunk,
    split_frames,
    split_ulaw_frames,
)
from gateway.call.call_actions import CallAction, ControlFailed, HangUp, Transfer, action_name
from gateway.call.conversation import Conversation
from gateway.call.events import AgentText, CallEnded, CallEvent, Dtmf, ToolCall
from gateway.call.interrupt_policy import InterruptPolicy
from gateway.call.outbound import OutboundPump, PlayoutStalled
from gateway.call.transport import Transport
from gateway.call.turn_commands import (
    CancelReply,
    CarryOut,
    ClearFarEnd,
    Command,
    CountUnderrun,
    DropQueued,
    Emit,
    EndCall,
    ForgetSpeech,
    HoldReply,
    ResumeReply,
    StartReply,
)
from gateway.clock import Clock
from gateway.flow.confirmation import Cleared, Confirmation, RanDry
from gateway.flow.inbound import InboundBudget
from gateway.flow.playout import PlayoutFlow
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.audio_queue import AudioQueue
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.tts import TextToSpeech
from gateway.voice.session import (
    AgentTurn,
    CallerAudio,
    EndWhenHeard,
    ProtectTurn,
    ReplyDone,
    ReplyText,
    SpeechStarted,
    SpeechStopped,
    ToolCalled,
    Transcript,
    TransferWhenHeard,
    Utterance,
    VoiceBegan,
    VoiceEnded,
    VoiceEvent,
    VoiceFailed,
    VoiceLasted,
    VoiceSession,
)

log = logging.getLogger(__name__)

SHOWN_TOOL_CHARS = 2000
APOLOGY = "Sorry, I have lost my connection. Please call again."


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
    interrupt: InterruptPolicy = field(default_factory=InterruptPolicy)
    voicemail: str = "off"
    """On an outbound call: what a machine's answer gets (off, hangup, message, agent)."""
    voicemail_message: str = ""
    screen_timeout_s: float = 30.0
    """An outbound call with no verdict on who answered this long is taken as a person's."""


class Call:
    def __init__(
        self,
        call_id: str,
        transport: Transport,
        flow: PlayoutFlow,
        voice: VoiceSession,
        settings: CallSettings,
        clock: Clock,
        metrics: GatewayMetrics,
        fallback_tts: TextToSpeech | None = None,
    ) -> None:
        self.call_id = call_id
        self.transport = transport
        self.flow = flow
        self.voice = voice
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.fallback_tts = fallback_tts
        """Speaks the apology when the voice itself has failed."""
        self.kind = transport.kind
        self.core = Conversation(
            clock,
            flow,
            settings.greeting,
            settings.send_clear,
            paced=transport.paced,
            policy=settings.interrupt,
        )
        self.queue = AudioQueue(settings.output_queue_ms)
        self.inbound = InboundBudget(clock, settings.inbound_burst_ms)
        self.listeners: list[Callable[[CallEvent], None]] = []
        self.pump = OutboundPump(
            self.queue,
            flow,
            transport,
            self.core.turns,
            settings.stall_timeout_s,
            on_first_send=self._on_first_send,
            on_stale_drop=self._on_stale_drop,
            on_send=self._on_send,
        )
        self._tasks: set[asyncio.Task] = set()
        self._closed = asyncio.Event()
        self._flood_logged = False
        self._voice_failed: str | None = None
        self._pausing: asyncio.Task | None = None
        self.end_reason: str | None = None
        self._ending_for: str | None = None
        """Why the call is about to end (a hang-up asked of the carrier): the
        stream the carrier then closes ends it for this reason, not its own."""
        self.started_at = clock.now()

    # What call records, metrics and tests read.
    @property
    def window(self) -> Any:
        return self.flow.window

    @property
    def turns(self) -> Any:
        return self.core.turns

    @property
    def records(self) -> Any:
        return self.core.records

    @property
    def interrupts(self) -> Any:
        return self.core.interrupts

    @property
    def backchannels(self) -> Any:
        return self.core.backchannels

    @property
    def backchannels_ignored(self) -> int:
        return self.core.backchannels_ignored

    @property
    def starved_frames(self) -> int:
        return self.core.starved_frames

    @property
    def starved_in_pause(self) -> int:
        return self.core.starved_in_pause

    @property
    def underruns(self) -> int:
        return self.core.underruns

    # ---- lifecycle -------------------------------------------------------

    async def run(self) -> str:
        """Serve the call until it ends; returns the reason it ended."""
        self.metrics.calls.labels(self.kind).inc()
        self.metrics.calls_active.labels(self.kind).inc()
        self.metrics.track(self)
        self._spawn(self.pump.run(), "pump")
        self._spawn(self._run_voice(), "voice")
        try:
            self._execute(self.core.start())
            if self.core.screening:
                self._spawn(self._screen_deadline(), "screening")
            await self._closed.wait()
        finally:
            await self._teardown()
        return self.end_reason or "closed"

    def end(self, reason: str) -> None:
        if self.end_reason is None:
            self.end_reason = self._ending_for or reason
        self._closed.set()

    async def _teardown(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.voice.aclose()
        self.metrics.calls_active.labels(self.kind).dec()
        self.metrics.calls_ended.labels(self.kind, self.end_reason or "closed").inc()
        self.metrics.peak_in_flight_ms.labels(self.kind).observe(self.flow.window.peak_in_flight_ms)
        self.metrics.untrack(self)
        self.emit(CallEnded(self.end_reason or "closed"))

    def _spawn(self, coro: Any, name: str) -> asyncio.Task:
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

    async def _run_voice(self) -> None:
        controls = getattr(self.voice, "controls", None)
        if controls is not None:
            controls.bind(self.on_voice_event)  # its tools ask this call
        try:
            await self.voice.run(_Output(self))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.exception("voice %s failed", self.voice.name)
            self._on_voice_failed(VoiceFailed(type(exc).__name__))
        else:
            if not self._closed.is_set():
                self._on_voice_failed(VoiceFailed("voice ended"))

    def screen(self) -> None:
        """An outbound call: wait for the carrier's answering-machine verdict
        before greeting or answering anyone. Call before `run`."""
        self.core.screening = self.settings.voicemail != "off"

    def answered_by(self, machine: bool, end_of_greeting: bool = False) -> None:
        """The carrier's verdict; `end_of_greeting`: it came at the machine's beep."""
        if not self.core.screening:
            return
        if machine and self.settings.voicemail == "agent" and self._voice_failed is None:
            note = getattr(self.voice, "note", None)
            if note is not None:
                ended = ", and its greeting has ended" if end_of_greeting else ""
                note(f"An answering machine took this call{ended}. Leave a short message "
                     "and end the call with end_call, or just end it.")  # fmt: skip
        self._execute(
            self.core.answered(machine, self.settings.voicemail, self.settings.voicemail_message)
        )

    async def _screen_deadline(self) -> None:
        await asyncio.sleep(self.settings.screen_timeout_s)
        if self.core.screening:
            log.warning("no verdict on who answered within %g s: taken as a person",
                        self.settings.screen_timeout_s)  # fmt: skip
            self.answered_by(False)

    def emit(self, event: CallEvent) -> None:
        self.transport.send_event(event)
        for listener in self.listeners:
            listener(event)

    # ---- inbound ---------------------------------------------------------

    async def on_audio(self, pcm: bytes, ulaw8k: bytes = b"") -> None:
        """`hear`, for a receive loop that awaits: PCM at the internal rate,
        any whole number of frames, and the same as μ-law if the wire carried that."""
        self.hear(CallerAudio(pcm, ulaw8k))

    def hear(self, audio: CallerAudio) -> None:
        ms = audio.ms
        if not self.inbound.admit(ms):
            self.metrics.inbound_dropped_ms.labels(self.kind).inc(ms)
            if not self._flood_logged:
                self._flood_logged = True
                log.warning("caller audio arrives faster than real time; dropping the surplus")
            return
        if self._voice_failed is None:
            self.voice.feed(audio)

    def on_dtmf(self, digit: str) -> None:
        self.emit(Dtmf(digit))
        if self._voice_failed is None:
            self.voice.dtmf(digit)

    def confirm(self, confirmation: Confirmation) -> bool:
        """The far end confirmed playout; False if the confirmation is impossible
        (names audio never sent). Raises BadGrant for a grant no far end sends."""
        if isinstance(confirmation, RanDry):
            self._execute(self.core.ran_dry(self.queue.buffered_ms, confirmation.late))
            return True
        confirmed = self.flow.confirm(confirmation)
        if not confirmed.valid:
            return False
        if confirmed.returned_ms:
            self.pump.wake()
        self._execute(self.core.confirmed(confirmed, self.queue.buffered_ms))
        return True

    # ---- the voice -------------------------------------------------------

    def on_voice_event(self, event: VoiceEvent) -> None:
        core = self.core
        match event:
            case SpeechStarted(began_at):
                self._execute(core.speech_started(began_at))
            case SpeechStopped(at):
                self._execute(core.speech_stopped(at))
            case VoiceBegan(began_at):
                self._execute(core.voice_began(began_at))
            case VoiceEnded():
                self._execute(core.voice_ended())
            case VoiceLasted(voiced_ms):
                self._execute(core.voice_lasted(voiced_ms))
            case Utterance(text, ended_at):
                self._execute(core.utterance(text, ended_at))
            case Transcript(text, final):
                self._execute(core.transcript(text, final))
            case ReplyText(turn_id, text):
                self._execute(core.reply_text(turn_id, text))
            case ReplyDone(turn_id, failed):
                if failed:
                    self.metrics.agent_errors.labels(self.kind).inc()
                self._execute(core.reply_done(turn_id))
            case ToolCalled(turn_id, name, arguments, result, error):
                self.emit(ToolCall(turn_id, name, _shown(arguments), _shown(result), error))
            case VoiceFailed():
                self._on_voice_failed(event)
            case ProtectTurn(turn_id):
                self._execute(core.protect(turn_id))
            case AgentTurn(preempt):
                self._execute(core.agent_turn(preempt))
            case EndWhenHeard(reason, interruptible):
                self._execute(core.end_when_heard(reason, interruptible))
            case TransferWhenHeard(to, announcement):
                self._execute(core.act_when_heard(Transfer(to), announcement))

    async def on_voice_audio(self, turn_id: int, pcm: bytes, text: str, ulaw8k: bytes) -> bool:
        frames = split_frames(pcm) if pcm else []
        ulaw_frames = split_ulaw_frames(ulaw8k) if ulaw8k else []
        count = max(len(frames), len(ulaw_frames))
        offset = self.core.reply_audio(turn_id, count * FRAME_MS, text)
        if offset is None:
            return False
        record = self.core.records[turn_id]
        if offset == 0 and record.user_ended_at is not None:
            self.metrics.turn_latency.labels(self.kind, "first_audio_made").observe(
                self.clock.now() - record.user_ended_at
            )
        if text:
            self.emit(AgentText(turn_id, text))
        for i in range(count):
            chunk = AudioChunk(
                turn_id,
                frames[i] if frames else b"",
                offset + i * FRAME_MS,
                ulaw_frames[i] if ulaw_frames else b"",
            )
            await self.queue.put(chunk)
            if not self.core.turns.is_live(turn_id):
                return False
        return True

    def _on_voice_failed(self, failure: VoiceFailed) -> None:
        if self._voice_failed is not None or self._closed.is_set():
            return
        self._voice_failed = failure.reason
        log.warning("voice %s failed: %s", self.voice.name, failure.reason)
        self.metrics.voice_failures.labels(self.kind, self.voice.name).inc()
        if self.fallback_tts is None:
            self.end("voice failed")
            return
        self._execute(self.core.apologise(APOLOGY))

    # ---- commands --------------------------------------------------------

    def _execute(self, commands: list[Command]) -> None:
        barge_in: list[Command] = []
        for command in commands:
            match command:
                case Emit(event):
                    self.emit(event)
                case StartReply(turn_id, greeting):
                    if barge_in:
                        # A turn cut for another (a preemption, the apology):
                        # its work is cancelled before the next one starts.
                        self._barge_in(barge_in)
                        barge_in = []
                    self._start_reply(turn_id, greeting)
                case CountUnderrun():
                    self.metrics.underruns.labels(self.kind).inc()
                case EndCall(reason):
                    self.end(reason)
                case CarryOut(action):
                    self._spawn(self._carry_out(action), "control")
                case ForgetSpeech():
                    forget = getattr(self.voice, "forget_speech", None)
                    if forget is not None and self._voice_failed is None:
                        forget()
                case HoldReply(turn_id, cleared):
                    self._hold(turn_id, cleared)
                case ResumeReply(turn_id, from_ms):
                    self._resume(turn_id, from_ms)
                case CancelReply() | DropQueued() | ClearFarEnd():
                    barge_in.append(command)
        if barge_in:
            self._barge_in(barge_in)

    async def _carry_out(self, action: CallAction) -> None:
        """The agent's last words before a hang-up or transfer were heard: ask
        the wire's control (a carrier's REST API) for it. Without one, a
        hang-up closes the session; a transfer is never offered there."""
        control = getattr(self.transport, "control", None)
        name = action_name(action)
        error: str | None = None
        self._ending_for = action.reason if isinstance(action, HangUp) else "transferred"
        try:
            if isinstance(action, Transfer):
                if control is None or not control.can_transfer:
                    raise ControlFailed("this call cannot be transferred")
                await control.transfer(action.to)
            elif control is not None:
                await control.hang_up()
        except ControlFailed as failed:
            error = str(failed) or type(failed).__name__
            log.warning("%s failed: %s", name.replace("_", " "), error[:300])
        self.metrics.call_control.labels(self.kind, name, "failed" if error else "done").inc()
        goes_on = isinstance(action, Transfer) and error is not None
        note = getattr(self.voice, "note", None)
        if goes_on and note is not None and self._voice_failed is None:
            # Before the turn it gets to say so: the agent answers knowing.
            note(f"The transfer to {action.to} failed: {(error or '')[:200]}. Tell the caller.")
        if goes_on:
            self._ending_for = None
        self._execute(self.core.action_finished(error))
        if not goes_on:
            # A hang-up the carrier refused still ends the call: closing its
            # stream ends a call whose answer has nothing after the stream.
            self.end(self._ending_for or "agent ended")

    def _hold(self, turn_id: int, cleared: Cleared | None) -> None:
        """A provisional interrupt: the far end drops what it holds, the pump
        keeps the rest of the turn until the core resumes or cuts it."""
        self.metrics.provisional_interrupts.labels(self.kind).inc()
        self.pump.hold(turn_id)
        if cleared is not None:
            self._pausing = self._spawn(self.transport.send_clear(cleared), f"pause{turn_id}")

    def _resume(self, turn_id: int, from_ms: int) -> None:
        self.metrics.backchannels.labels(self.kind).inc()
        pausing = self._pausing
        if pausing is None or pausing.done():
            self.pump.resume(turn_id, from_ms)
            return

        async def after_the_clear() -> None:
            # The clear must reach the wire before the audio sent again: a far
            # end drops everything of the turn it holds when the clear arrives.
            await asyncio.gather(pausing, return_exceptions=True)
            self.pump.resume(turn_id, from_ms)

        self._spawn(after_the_clear(), f"resume{turn_id}")

    def _start_reply(self, turn_id: int, greeting: str | None) -> None:
        if self._voice_failed is None:
            self.voice.reply(turn_id, greeting)
        elif self.fallback_tts is not None and greeting:
            self._spawn(self._speak_fallback(turn_id, greeting), f"apology{turn_id}")

    async def _speak_fallback(self, turn_id: int, text: str) -> None:
        assert self.fallback_tts is not None
        try:
            pcm = await self.fallback_tts.synthesize(text)
        except Exception:
            log.exception("the apology could not be spoken")
            self.end("voice failed")
            return
        await self.on_voice_audio(turn_id, pcm, text, b"")
        self._execute(self.core.reply_done(turn_id))

    def _barge_in(self, commands: list[Command]) -> None:
        """Cancel the voice's work, then drop what is queued here, then clear
        the far end: in that order, so nothing refills what was just emptied."""
        turn_id, cancelled, dropped = 0, False, 0
        clear: ClearFarEnd | None = None
        for command in commands:
            match command:
                case CancelReply(turn_id, heard_ms, heard_text):
                    if any(i.turn_id == turn_id for i in self.core.interrupts):
                        # The caller's barge-in; a turn cut for the apology or
                        # for the agent's own next words is not one.
                        self.metrics.interrupts.labels(self.kind).inc()
                    if self._voice_failed is None:
                        cancelled = self.voice.interrupt(turn_id, heard_ms, heard_text)
                    self.core.reply_cancelled(turn_id)
                case DropQueued(turn_id):
                    dropped = self.queue.drop_turn(turn_id) + self.pump.forget(turn_id)
                    self.metrics.stale_dropped_ms.labels(self.kind).inc(dropped)
                case ClearFarEnd():
                    clear = command
        self.pump.wake()
        if clear is None:
            self._barge_in_done(turn_id, cancelled, dropped)
            return
        self._spawn(self._clear_far_end(clear, cancelled, dropped), f"clear{turn_id}")

    async def _clear_far_end(self, clear: ClearFarEnd, cancelled: bool, dropped: int) -> None:
        await self.transport.send_clear(clear.cleared)
        self._barge_in_done(clear.cleared.turn_id, cancelled, dropped)

    def _barge_in_done(self, turn_id: int, cancelled: bool, dropped: int) -> None:
        record = next((i for i in reversed(self.core.interrupts) if i.turn_id == turn_id), None)
        if record is not None:
            log.info(
                "barge-in on turn %d: heard %d ms, dropped %d ms queued and %d ms in flight",
                turn_id,
                record.heard_ms,
                dropped,
                record.dropped_in_flight_ms,
            )
        self._execute(self.core.barge_in_done(turn_id, cancelled, dropped))

    # ---- the pump --------------------------------------------------------

    def _on_first_send(self, chunk: AudioChunk) -> None:
        self._execute(self.core.first_sent(chunk.turn_id))
        record = self.core.records.get(chunk.turn_id)
        if record is not None and record.user_ended_at is not None and record.first_sent_at:
            self.metrics.turn_latency.labels(self.kind, "first_audio_sent").observe(
                record.first_sent_at - record.user_ended_at
            )

    def _on_send(self, chunk: AudioChunk) -> None:
        if not self.core.paced:
            self._execute(self.core.sending(chunk.turn_id))

    def _on_stale_drop(self, chunk: AudioChunk) -> None:
        self.metrics.stale_dropped_ms.labels(self.kind).inc(chunk.duration_ms)


def _shown(value: Any) -> Any:
    """A tool's arguments or result as the page may show them: JSON, and short."""
    text = json.dumps(value, default=str)
    return json.loads(text) if len(text) <= SHOWN_TOOL_CHARS else text[:SHOWN_TOOL_CHARS] + "…"


class _Output:
    """The call as its voice session sees it."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def event(self, event: VoiceEvent) -> None:
        self._call.on_voice_event(event)

    async def audio(self, turn_id: int, pcm: bytes, text: str = "", ulaw8k: bytes = b"") -> bool:
        return await self._call.on_voice_audio(turn_id, pcm, text, ulaw8k)
