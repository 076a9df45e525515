"""Gemini Live as a call's voice: one BidiGenerateContent socket per call.

Sluice owns turn-taking, as with Realtime: the server's activity detection is
off, and the session tells the model where the caller's speech is with
`activityStart` and `activityEnd`, from Sluice's own detector and the call's
turn rules. The caller's speech is held here (bounded) and goes to the model
only once the call has decided what it is:

- a barge-in the policy confirmed: `activityStart` at once (it stops the
  model's generation), the held speech, then the live audio;
- speech the call answers: `activityEnd`, when the call asks for the reply;
- a backchannel ("hm") that only paused the turn: nothing. The model never
  hears it and never stops, and the turn resumes where the caller was.

Gemini has no truncate. After a barge-in the model still holds everything it
generated, which runs far ahead of what the caller heard. Sluice tells it
what was heard, as a user turn of client content, before the caller's words
(`context_note`). Its own record of the reply is not rewritten: that is the
method's limit.

A `goAway` is handled by session resumption: a new socket opens with the
newest handle while the caller hears the audio already held, so there is no
gap; a socket that closes without one, or a resumption that fails, ends the
call with the apology.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from gateway.clock import Clock
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.tools import Tools, output_text
from gateway.pipeline.vad import VoiceStream
from gateway.voice import gemini_protocol as gp
from gateway.voice.call_tools import CallTools
from gateway.voice.gemini_protocol import GeminiProtocol
from gateway.voice.gemini_speech import CallerSpeech
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
from gateway.voice.model_outbox import (
    ModelConnectionLost,
    Outbox,
    open_socket,
)
from gateway.voice.realtime_protocol import PCM
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

NAME = "gemini-live"
OUTGOING_MESSAGES = 512
"""Messages waiting for the model's socket, all in one ordered lane (activity
markers and the audio between them must not pass each other): about 20 s of
live audio. Past it the socket is stuck, and the voice fails."""
SETUP_TIMEOUT_S = 10.0
MAX_TOOL_CALLS = 8


@dataclass(frozen=True, slots=True)
class GeminiSettings:
    url: str
    model: str
    api_key: str
    voice: str
    instructions: str
    buffer_ms: int = 30_000
    connect_timeout_s: float = 10.0


def context_note(heard_text: str) -> str:
    """What the model is told after a barge-in, in place of a truncate."""
    if not heard_text:
        return (
            "[The caller interrupted you before hearing any of your last answer. "
            "Treat all of it as unsaid.]"
        )
    return (
        f'[The caller interrupted you. Of your last answer they heard only: "{heard_text} …". '
        "Treat the rest as unsaid.]"
    )


class GeminiSession:
    name = NAME

    def __init__(
        self,
        settings: GeminiSettings,
        tools: Tools,
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
        self.protocol = GeminiProtocol()
        self.speech = CallerSpeech()
        self.watch = SpeechWatch(vad_stream, vad, clock, self._on_speech, self._on_voice)
        self.outbox = Outbox(OUTGOING_MESSAGES, 1)  # audio goes in order, with the rest
        self.held = HeldAudio(settings.buffer_ms)
        self._framer = Framer(PCM)
        self._words = WordJoiner()
        self._out: VoiceOutput | None = None
        self._asked_by_speech = False
        """The answer last asked for answers speech (an activity), not text."""
        self._typed: list[str] = []
        """What the caller did that is not speech (keys), for the next reply."""
        self._tool_tasks: dict[str, tuple[int, asyncio.Task]] = {}
        self._tasks: set[asyncio.Task] = set()
        self._resume_wanted = False
        self._swap = asyncio.Event()
        self._swap_timer: asyncio.TimerHandle | None = None
        self.connections = 0
        self._bad = BadEvents(metrics, NAME)

    # ---- the connection ----------------------------------------------------

    async def run(self, out: VoiceOutput) -> None:
        self._out = out
        feeder = asyncio.create_task(feed_call(self.held, out), name="gemini-feed")
        try:
            resume = False
            while True:
                ws = await self._open(resume)
                if resume:
                    await self._restore()
                try:
                    await self._serve(ws, feeder)
                finally:
                    await ws.close()
                # The server said goAway: the next socket resumes the session.
                resume = True
                self._stop_swap_timer()
                self.metrics.voice_problems.labels(NAME, "reconnected").inc()
        finally:
            self._stop_swap_timer()
            feeder.cancel()
            await asyncio.gather(feeder, return_exceptions=True)

    async def _open(self, resume: bool) -> ClientConnection:
        s = self.settings
        url = f"{s.url}?{urlencode({'key': s.api_key})}"
        ws = await open_socket(url, {}, s.connect_timeout_s, self.metrics, NAME)
        setup = self.protocol.setup(
            s.model, s.voice, s.instructions, self.tools.realtime_declarations(), resume
        )
        try:
            await ws.send(json.dumps(setup))
            async with asyncio.timeout(SETUP_TIMEOUT_S):
                while True:
                    events = self._receive(await ws.recv())
                    if any(isinstance(e, gp.SetupComplete) for e in events):
                        break
        except (ConnectionClosed, TimeoutError) as exc:
            await ws.close()
            self.metrics.voice_problems.labels(NAME, "connect_failed").inc()
            raise ModelConnectionLost(f"the model did not complete the setup: {exc}") from exc
        self.connections += 1
        return ws

    async def _restore(self) -> None:
        """After a move forced mid-exchange: what the old socket owed is lost.
        An answer that had not begun is asked again; one cut short ends with
        what arrived; an open activity is opened again with its audio."""
        self.outbox.clear()  # queued for the old socket: a tool's response, audio
        for _, task in self._tool_tasks.values():
            task.cancel()
        self._tool_tasks.clear()
        started = self.protocol.generating
        turns = self.protocol.abandon()
        if turns and not started and self._asked_by_speech and self.speech.activity:
            self._send_all(self.speech.replay(end=True))  # asked again, whole
            self.protocol.request(turns[-1])
            turns = turns[:-1]
        elif self.speech.activity_open:
            self._send_all(self.speech.replay(end=False))
        for turn_id in turns:
            await self.held.put(Piece(turn_id, b"", b"", done="completed"))

    async def _serve(self, ws: ClientConnection, feeder: asyncio.Task) -> None:
        """Until the socket should be swapped for a resumed one (returns) or
        fails (raises)."""
        self._swap.clear()
        reader = asyncio.create_task(self._read(ws), name="gemini-read")
        writer = asyncio.create_task(self.outbox.drain(ws, self.protocol.audio), name="gemini-w")
        swap = asyncio.create_task(self._swap.wait())
        tasks = {reader, writer, swap}
        try:
            done, _ = await asyncio.wait({*tasks, feeder}, return_when=asyncio.FIRST_COMPLETED)
            if swap in done:
                return
            for task in done:
                task.result()
            raise ModelConnectionLost("the model connection ended")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for message in ws:
                for event in self._receive(message):
                    await self._on_event(event)
        except ConnectionClosed as exc:
            self.metrics.voice_problems.labels(NAME, "closed").inc()
            raise ModelConnectionLost(f"the model connection closed ({exc})") from exc
        self.metrics.voice_problems.labels(NAME, "closed").inc()

    def _receive(self, message: str | bytes) -> list[gp.ServerEvent]:
        try:
            return self.protocol.receive(message)
        except gp.BadMessage as exc:
            self._bad(str(exc), log)
            return []

    # ---- goAway --------------------------------------------------------------

    @property
    def _between_exchanges(self) -> bool:
        """Nothing owed either way: the moment a new socket loses nothing."""
        return self.protocol.idle and not self.speech.activity_open and not self._tool_tasks

    def _go_away(self, time_left_s: float) -> None:
        log.info("the model asks to move on (%.1f s left): resuming", time_left_s)
        self.metrics.voice_problems.labels(NAME, "go_away").inc()
        if not self.protocol.handle:
            return  # nothing to resume with: the close that follows fails the voice
        self._resume_wanted = True
        if self._between_exchanges:
            self._swap.set()
            return
        # An exchange under way finishes on this socket if there is time; the
        # swap waits for a handle given after it (see Resumable).
        self._swap_timer = asyncio.get_running_loop().call_later(
            max(0.0, time_left_s - 1.0), self._swap.set
        )

    def _stop_swap_timer(self) -> None:
        self._resume_wanted = False
        if self._swap_timer is not None:
            self._swap_timer.cancel()
            self._swap_timer = None

    # ---- the model's side --------------------------------------------------

    async def _on_event(self, event: gp.ServerEvent) -> None:
        out = self._out
        assert out is not None
        match event:
            case gp.ModelAudio(turn_id, generation, pcm24k):
                frames = self._framer.cut(turn_id, str(generation), pcm24k)
                await self._hold(turn_id, frames)
            case gp.ModelWords(turn_id, text):
                words = self._words.feed(turn_id, text)
                if words:
                    self.held.put_text(turn_id, words)
            case gp.CallerWords(text):
                out.event(Transcript(text))
            case gp.GenerationDone(turn_id, status):
                frames = self._framer.flush() if self._framer.turn_id == turn_id else []
                await self._hold(turn_id, frames)
                await end_reply(self.held, self._words, turn_id, "completed")
                if status != "completed":
                    log.warning("the model ended turn %d %s", turn_id, status)
            case gp.ToolCall(turn_id, call_id, name, arguments):
                task = asyncio.create_task(self._run_tool(turn_id, call_id, name, arguments))
                self._tool_tasks[call_id] = (turn_id, task)
                while len(self._tool_tasks) > MAX_TOOL_CALLS:
                    old_id, (_, old) = next(iter(self._tool_tasks.items()))
                    old.cancel()
                    self._answer_tool(old_id, "", output_text(None, "too many tool calls at once"))
            case gp.ToolsCancelled(ids):
                for call_id in ids:
                    entry = self._tool_tasks.pop(call_id, None)
                    self.protocol.tool_answered(call_id)
                    if entry is not None:
                        entry[1].cancel()
            case gp.GoAway(time_left_s):
                self._go_away(time_left_s)
            case gp.Resumable():
                if self._resume_wanted and self._between_exchanges:
                    self._swap.set()  # a handle that holds everything said so far
            case gp.SetupComplete():
                pass

    async def _hold(self, turn_id: int, frames: list[tuple[str, bytes]]) -> None:
        await hold(self.held, [Piece(turn_id, frame, b"") for _, frame in frames], self.metrics)

    async def _run_tool(self, turn_id: int, call_id: str, name: str, arguments: str) -> None:
        args, result, error = await self.tools.run(name, arguments)
        if error is not None:
            self.metrics.voice_problems.labels(NAME, "tool_failed").inc()
        self._answer_tool(call_id, name, output_text(result, error))
        if self._out is not None:
            self._out.event(ToolCalled(turn_id, name, args, result, error))

    def _answer_tool(self, call_id: str, name: str, output: str) -> None:
        self._tool_tasks.pop(call_id, None)
        self.protocol.tool_answered(call_id)
        self.outbox.send(self.protocol.tool_response(call_id, name, output))

    # ---- the caller's side -------------------------------------------------

    def feed(self, audio: CallerAudio) -> None:
        for frame in audio.frames():
            self.watch.hear(frame)
            self._send_all(self.speech.take(frame.pcm))

    def _send_all(self, messages: list[dict]) -> None:
        for message in messages:
            self.outbox.send(message)

    def _on_voice(self, change: VoiceChange) -> None:
        if self._out is not None:
            self._out.event(change)

    def _on_speech(self, event: SpeechEvent) -> None:
        out = self._out
        if out is None:
            return
        if isinstance(event, SpeechStarted):
            self.speech.speaking = True
            self._send_all(self.speech.take(self.watch.take_preroll()))
            out.event(event)
            return
        self.speech.speaking = False
        out.event(SpeechStopped(event.at))
        # The model hears it if the call answers it (reply) or it cut a turn
        # (interrupt); a backchannel is forgotten (forget_speech).
        out.event(Utterance(None, event.at))

    def forget_speech(self) -> None:
        """The call will not answer the speech that just ended (a backchannel)."""
        self.speech.forget()

    def reply(self, turn_id: int, greeting: str | None = None) -> None:
        if greeting is not None:
            instruction = f'Greet the caller by saying exactly this: "{greeting}"'
            self.outbox.send(self.protocol.user_text(instruction))
            self.protocol.request(turn_id)
            self._asked_by_speech = False
            return
        typed, self._typed = " ".join(self._typed), []
        if typed:
            # Keys go first, as context: the speech's activityEnd asks for the answer.
            self.outbox.send(self.protocol.user_text(typed, complete=not self.speech.has_speech))
        self._asked_by_speech = self.speech.has_speech
        if self.speech.has_speech:
            self._send_all(self.speech.end())
        elif not typed:
            # Nothing for the model to answer: the turn ends empty, not stuck.
            self._spawn(self.held.put(Piece(turn_id, b"", b"", done="completed")))
            return
        self.protocol.request(turn_id)

    def interrupt(self, turn_id: int, heard_ms: int, heard_text: str) -> bool:
        running = self.protocol.cut(turn_id)
        # What the caller heard goes into the model's context first, then the
        # caller's activity, which stops a generation still running.
        self.outbox.send(self.protocol.user_text(context_note(heard_text), complete=False))
        self._send_all(self.speech.start())
        had_audio = self.held.drop_turn(turn_id) > 0
        self._words.drop(turn_id)
        for call_id, (tool_turn, task) in list(self._tool_tasks.items()):
            if tool_turn == turn_id:
                task.cancel()
                del self._tool_tasks[call_id]
                self.protocol.tool_answered(call_id)
        return had_audio or running

    def note(self, text: str) -> None:
        """Something the model must know before its next answer (a transfer
        that failed): sent with the turn it gets to say so, as keys are."""
        self._typed = [*self._typed[-15:], f"(A note from the phone system: {text})"]

    def dtmf(self, digit: str) -> None:
        # Sent with the reply it asks for, so the model's answer has its turn.
        self._typed = [*self._typed[-15:], f"The caller pressed the {digit} key."]
        if self._out is not None:
            self._out.event(Utterance(None, self.clock.now()))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def aclose(self) -> None:
        self.watch.close()
        self._stop_swap_timer()
        tasks = [*self._tasks, *(task for _, task in self._tool_tasks.values())]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
