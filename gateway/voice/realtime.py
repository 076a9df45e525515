"""OpenAI Realtime as a call's voice: one WebSocket to the model per call.

Caller audio streams to the model (μ-law untouched on a μ-law wire, else PCM
at 24 kHz); the model's audio comes back faster than real time and waits in a
bounded buffer, measured in milliseconds, in front of the call's queue. When
that buffer is full, reading the socket pauses: the model's TCP window fills,
and nothing grows. Barge-in is heard by whichever detector hears it first,
Sluice's own on the caller's frames or the server's; `interrupt` then cancels
the response (only while one is active) and truncates each item at what the
caller heard of it, from confirmed playout.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from gateway.audio import mulaw
from gateway.audio.frames import (
    FRAME_MS,
    INTERNAL_RATE,
)
from gateway.audio.resample import StreamResampler
from gateway.clock import Clock
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.tools import Tools, output_text
from gateway.pipeline.vad import VoiceStream
from gateway.voice.call_tools import CallTools
from gateway.voice.listening import SpeechEvent, SpeechWatch, VoiceChange
from gateway.voice.model_audio import (
    BadEvents,
    Framer,
    HeldAudio,
    Piece,
    end_reply,
    feed_call,
    hold,
)
from gateway.voice.model_outbox import ModelConnectionLost, Outbox, open_socket
from gateway.voice.realtime_events import (
    BadEvent,
    ModelAudio,
    ModelError,
    ModelEvent,
    ModelHeardCaller,
    ModelReplyDone,
    ModelSpeechStarted,
    ModelSpeechStopped,
    ModelText,
    ModelToolCall,
    ModelTranscript,
)
from gateway.voice.realtime_protocol import PCM, PCM_RATE, PCMU, RealtimeProtocol
from gateway.voice.session import (
    CallerAudio,
    SpeechStarted,
    SpeechStopped,
    ToolCalled,
    Transcript,
    Utterance,
    VoiceOutput,
)
from gateway.voice.words import WordJoiner

log = logging.getLogger(__name__)

NAME = "openai-realtime"
SEND_AUDIO_MS = 40
"""Caller audio goes to the model in 40 ms appends: half the messages of 20 ms,
and Sluice's own detector, not the server's, is the fast barge-in path."""
OUTGOING_AUDIO_MS = 2_000
"""Caller audio waiting for a slow model socket; past this the oldest goes."""
OUTGOING_CONTROL = 256
MAX_TOOL_CALLS = 8
MAX_EVENT_BYTES = 256 * 1024
"""The largest model event taken in: about 4 s of 24 kHz PCM as base64, where a
real audio delta carries a fraction of a second. A larger one is counted and
skipped, so one message cannot bring seconds of memory with it."""
@dataclass(frozen=True, slots=True)
class RealtimeSettings:
    url: str
    model: str
    api_key: str
    voice: str
    instructions: str
    buffer_ms: int = 30_000
    transcribe_model: str = ""
    connect_timeout_s: float = 10.0
    silence_ms: int = 500


class RealtimeSession:
    name = NAME

    def __init__(
        self,
        settings: RealtimeSettings,
        tools: Tools,
        native_audio: str,
        vad_stream: VoiceStream,
        vad: VadSettings,
        clock: Clock,
        metrics: GatewayMetrics,
    ) -> None:
        self.settings = settings
        self.tools = tools
        self.controls: CallTools | None = None
        """This call's end_call and transfer_call; their functions are in `tools`."""
        self.clock = clock
        self.metrics = metrics
        self.fmt = PCMU if native_audio == "pcmu" else PCM
        self.protocol = RealtimeProtocol(self.fmt)
        self.watch = SpeechWatch(vad_stream, vad, clock, self._on_speech, self._on_voice)
        self._out: VoiceOutput | None = None
        self.outbox = Outbox(OUTGOING_CONTROL, OUTGOING_AUDIO_MS // SEND_AUDIO_MS)
        self._pending_audio = b""
        self._up = StreamResampler(INTERNAL_RATE, PCM_RATE)
        self._to_8k = StreamResampler(INTERNAL_RATE, 8000)
        self._framer = Framer(self.fmt)
        self._words = WordJoiner()
        self.held = HeldAudio(settings.buffer_ms)
        self._local_speaking = False
        self._server_speaking = False
        self._speaking = False
        self._server_heard = False
        """The server's detector heard the speech now under way."""
        self._tool_tasks: dict[int, list[asyncio.Task]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._bad = BadEvents(metrics, NAME)
        self.bad_events = 0

    # ---- the connection ----------------------------------------------------

    async def run(self, out: VoiceOutput) -> None:
        self._out = out
        ws = await self._connect()
        try:
            await ws.send(json.dumps(self._session_update()))
            reader = asyncio.create_task(self._read(ws), name="realtime-read")
            writer = asyncio.create_task(
                self.outbox.drain(ws, self.protocol.append), name="realtime-write"
            )
            feeder = asyncio.create_task(self._feed_call(out), name="realtime-feed")
            tasks = {reader, writer, feeder}
            try:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()
                raise ModelConnectionLost("the model connection ended")
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            await ws.close()

    async def _connect(self) -> ClientConnection:
        s = self.settings
        url = f"{s.url}?{urlencode({'model': s.model})}"
        headers = {"Authorization": f"Bearer {s.api_key}"}
        return await open_socket(url, headers, s.connect_timeout_s, self.metrics, NAME)

    def _session_update(self) -> dict[str, Any]:
        s = self.settings
        return self.protocol.session_update(
            s.instructions,
            s.voice,
            self.tools.realtime_declarations(),
            s.transcribe_model,
            s.silence_ms,
        )

    def _send(self, event: dict[str, Any]) -> None:
        # Never dropped: losing a cancel or a request would leave the session
        # stuck, so an overflow fails the voice (the caller hears the apology).
        self.outbox.send(event)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                if len(message) > MAX_EVENT_BYTES:
                    self.metrics.voice_problems.labels(NAME, "oversized").inc()
                    self.bad_events += 1
                    if self.bad_events <= 3:
                        log.warning("skipped a model event of %d bytes", len(message))
                    continue
                try:
                    events = self.protocol.receive(message)
                except BadEvent as exc:
                    self._bad_event(str(exc))
                    continue
                for reply in self.protocol.take_outbox():
                    self._send(reply)
                for event in events:
                    await self._on_model_event(event)
        except ConnectionClosed as exc:
            self.metrics.voice_problems.labels(NAME, "closed").inc()
            raise ModelConnectionLost(f"the model connection closed ({exc})") from exc
        self.metrics.voice_problems.labels(NAME, "closed").inc()

    def _bad_event(self, detail: str) -> None:
        self.bad_events += 1  # with the oversized ones: what tests and records read
        self._bad(detail, log)

    # ---- model events ------------------------------------------------------

    async def _on_model_event(self, event: ModelEvent) -> None:
        out = self._out
        assert out is not None
        match event:
            case ModelAudio(turn_id, item_id, audio):
                frames = self._framer.cut(turn_id, item_id, audio)
                await self._hold(turn_id, frames)
            case ModelText(turn_id, text):
                # In line with the audio: words reach the call's record of the
                # turn when the audio around them does, not seconds ahead.
                words = self._words.feed(turn_id, text)
                if words:
                    self.held.put_text(turn_id, words)
            case ModelSpeechStarted():
                self._server_speaking = True
                self._server_heard = True
                self._speech_changed()
            case ModelSpeechStopped():
                self._server_speaking = False
                self._speech_changed()
            case ModelHeardCaller():
                out.event(Utterance(None, self.clock.now()))
            case ModelTranscript(text):
                out.event(Transcript(text))
            case ModelToolCall(turn_id, call_id, name, arguments):
                task = asyncio.create_task(self._run_tool(turn_id, call_id, name, arguments))
                tasks = self._tool_tasks.setdefault(turn_id, [])
                tasks.append(task)
                for old in tasks[:-MAX_TOOL_CALLS]:
                    old.cancel()  # a model calling tools without end gets the latest ones
                del tasks[:-MAX_TOOL_CALLS]
                while len(self._tool_tasks) > 4:
                    for old in self._tool_tasks.pop(next(iter(self._tool_tasks))):
                        old.cancel()
            case ModelReplyDone(turn_id, status, wants_more):
                if wants_more and status == "completed":
                    self._spawn(self._continue_after_tools(turn_id))
                else:
                    # Sluice's own cancels never get here (the protocol has
                    # forgotten those turns): this turn is over, one way or another.
                    if status != "completed":
                        log.warning("model response for turn %d ended %s", turn_id, status[:40])
                    await self._hold(turn_id, [], ModelReplyDone(turn_id, status))
            case ModelError(code, message):
                self.metrics.voice_problems.labels(NAME, "server_error").inc()
                log.warning("model error %s: %s", code[:60], message[:300])

    async def _hold(
        self,
        turn_id: int,
        frames: list[tuple[str, bytes]],
        done: ModelReplyDone | None = None,
    ) -> None:
        """Model audio waits for the call; a full buffer pauses the reader."""
        if done is not None:
            frames = self._framer.flush() if self._framer.turn_id == turn_id else []
        for item_id, _ in frames:
            self.protocol.audio_framed(turn_id, FRAME_MS, item_id)
        await hold(self.held, [self._piece(turn_id, frame) for _, frame in frames], self.metrics)
        if done is not None:
            await end_reply(self.held, self._words, turn_id, done.status)

    def _piece(self, turn_id: int, frame: bytes) -> Piece:
        if self.fmt == PCMU:
            return Piece(turn_id, b"", frame)
        return Piece(turn_id, frame, b"")

    async def _feed_call(self, out: VoiceOutput) -> None:
        await feed_call(self.held, out)

    # ---- tools -------------------------------------------------------------

    async def _run_tool(self, turn_id: int, call_id: str, name: str, arguments: str) -> None:
        args, result, error = await self.tools.run(name, arguments)
        if error is not None:
            self.metrics.voice_problems.labels(NAME, "tool_failed").inc()
        self._send(self.protocol.tool_output(call_id, output_text(result, error)))
        if self._out is not None:
            self._out.event(ToolCalled(turn_id, name, args, result, error))

    async def _continue_after_tools(self, turn_id: int) -> None:
        tasks = self._tool_tasks.pop(turn_id, [])
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.protocol.has_turn(turn_id):  # not interrupted meanwhile
            self._request(self.protocol.create_response(turn_id))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ---- the call's side ---------------------------------------------------

    def feed(self, audio: CallerAudio) -> None:
        self.watch.hear(audio)
        if self.fmt == PCMU:
            wire = audio.ulaw8k or mulaw.encode(
                self._to_8k.process(np.frombuffer(audio.pcm, dtype=np.int16))
            )
        else:
            wire = self._up.process(np.frombuffer(audio.pcm, dtype=np.int16)).tobytes()
        self._pending_audio += wire
        per_ms = 8 if self.fmt == PCMU else PCM_RATE * 2 // 1000
        if len(self._pending_audio) >= SEND_AUDIO_MS * per_ms:
            self.outbox.send_audio(self._pending_audio)
            self._pending_audio = b""

    def _on_voice(self, change: VoiceChange) -> None:
        # The local detector's onset beats the model's verdict across the network:
        # the call pauses the far end on it, the model goes on until confirmed.
        if self._out is not None:
            self._out.event(change)

    def _on_speech(self, event: SpeechEvent) -> None:
        self._local_speaking = isinstance(event, SpeechStarted)
        self._speech_changed(event.began_at if isinstance(event, SpeechStarted) else None)

    def _speech_changed(self, began_at: float | None = None) -> None:
        speaking = self._local_speaking or self._server_speaking
        if speaking == self._speaking or self._out is None:
            return
        self._speaking = speaking
        now = self.clock.now()
        if speaking:
            self._server_heard = self._server_speaking
            self._out.event(SpeechStarted(began_at if began_at is not None else now))
            return
        self._out.event(SpeechStopped(now))
        if not self._server_heard:
            # Only Sluice's detector heard it: no turn will be committed, so say
            # so, and an answer it interrupted before any word is asked again.
            self._out.event(Utterance("", now))

    def reply(self, turn_id: int, greeting: str | None = None) -> None:
        instructions = None
        if greeting is not None:
            instructions = f'Greet the caller by saying exactly this: "{greeting}"'
        self._request(self.protocol.create_response(turn_id, instructions))

    def _request(self, event: dict[str, Any] | None) -> None:
        if event is not None:
            self._send(event)  # else it waits in the protocol for the active response

    def interrupt(self, turn_id: int, heard_ms: int, heard_text: str) -> bool:
        events = self.protocol.interrupt(turn_id, heard_ms)
        for event in events:
            self._send(event)
        had_audio = self.held.drop_turn(turn_id) > 0
        self._words.drop(turn_id)
        for task in self._tool_tasks.pop(turn_id, []):
            task.cancel()
        return had_audio or any(e["type"] == "response.cancel" for e in events)

    def note(self, text: str) -> None:
        """Something the model must know before its next answer (a transfer that failed)."""
        self._send(self.protocol.user_text(f"(A note from the phone system: {text})"))

    def dtmf(self, digit: str) -> None:
        self._send(self.protocol.user_text(f"The caller pressed the {digit} key on the keypad."))
        if self._out is not None:
            self._out.event(Utterance(None, self.clock.now()))

    async def aclose(self) -> None:
        self.watch.close()
        tasks = [*self._tasks, *(t for ts in self._tool_tasks.values() for t in ts)]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
