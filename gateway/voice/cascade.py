"""The cascade voice: VAD -> STT -> agent -> sentences -> TTS, for one call.

It owns the call's voice detector and recognition jobs, and the text history
the agent sees. The agent may run ahead of TTS by a bounded number of
sentences; TTS audio waits for room in the call's bounded queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncGenerator, Callable

from gateway.clock import Clock
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import Agent, CallInfo, Clip, Message, ToolReport
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.sentences import SentenceSplitter
from gateway.pipeline.stt import SpeechToText, SttStream
from gateway.pipeline.tts import TextToSpeech
from gateway.pipeline.vad import VoiceStream
from gateway.voice import wire_audio
from gateway.voice.call_tools import CallTools
from gateway.voice.listening import SpeechEvent, SpeechWatch, VoiceChange
from gateway.voice.session import (
    AgentTurn,
    CallerAudio,
    EndWhenHeard,
    ProtectTurn,
    ReplyDone,
    SpeechStarted,
    ToolCalled,
    Utterance,
    VoiceFailed,
    VoiceOutput,
)

log = logging.getLogger(__name__)

HISTORY_MESSAGES = 40


async def sentences_of(
    agent: Agent,
    history: list[Message],
    max_chars: int,
    ahead: int,
    on_tool: ToolReport | None = None,
    timeout_s: float | None = None,
) -> AsyncGenerator[str | Clip]:
    """The agent's reply cut into sentences, at most `ahead` of them waiting;
    a Clip it yields comes in its place among them. An agent silent for
    `timeout_s` between deltas ends the reply (TimeoutError)."""
    queue: asyncio.Queue[str | Clip | None] = asyncio.Queue(maxsize=ahead)

    async def write_text() -> None:
        splitter = SentenceSplitter(max_chars)
        deltas = aiter(agent.reply(history, on_tool))
        try:
            while True:
                try:
                    async with asyncio.timeout(timeout_s):
                        delta = await anext(deltas)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    log.warning("the agent gave no text for %g s: its reply is ended", timeout_s)
                    raise
                if isinstance(delta, Clip):
                    for sentence in splitter.flush():
                        await queue.put(sentence)
                    await queue.put(delta)
                    continue
                for sentence in splitter.feed(delta):
                    await queue.put(sentence)
        finally:
            closing = getattr(deltas, "aclose", None)
            if closing is not None:
                await closing()
        for sentence in splitter.flush():
            await queue.put(sentence)
        await queue.put(None)

    writer = asyncio.create_task(write_text(), name="agent-text")
    try:
        while True:
            if writer.done():
                writer.result()  # the agent failed: raise its error here
                sentence = await queue.get()
            else:
                getter = asyncio.ensure_future(queue.get())
                done, _ = await asyncio.wait({getter, writer}, return_when=asyncio.FIRST_COMPLETED)
                if getter not in done:
                    getter.cancel()
                    continue
                sentence = getter.result()
            if sentence is None:
                return
            yield sentence
    finally:
        writer.cancel()
        await asyncio.gather(writer, return_exceptions=True)


class CascadeSession:
    name = "cascade"

    def __init__(
        self,
        stt: SpeechToText,
        agent: Agent,
        tts: TextToSpeech,
        vad_stream: VoiceStream,
        vad: VadSettings,
        clock: Clock,
        metrics: GatewayMetrics,
        kind: str,
        sentence_queue: int = 2,
        max_sentence_chars: int = 240,
        native_audio: str = "",
        agent_factory: Callable[[CallInfo], Agent] | None = None,
        info: CallInfo | None = None,
        agent_timeout_s: float = 20.0,
        controls: CallTools | None = None,
    ) -> None:
        self.stt = stt
        self.controls = controls
        """This call's end_call and transfer_call, for an agent that takes tools."""
        self.agent = agent
        self._agent_factory = agent_factory
        self.info = info
        self.agent_timeout_s = agent_timeout_s
        self.tts = tts
        self.watch = SpeechWatch(vad_stream, vad, clock, self._on_speech, self._on_voice)
        self.clock = clock
        self.metrics = metrics
        self.kind = kind
        self.sentence_queue = sentence_queue
        self.max_sentence_chars = max_sentence_chars
        self.history: deque[Message] = deque(maxlen=HISTORY_MESSAGES)
        # A TTS that gives whole sentences, on a μ-law wire: each sentence is
        # converted once (and the common ones kept), not frame by frame per call.
        self._ulaw_whole_sentences = native_audio == "pcmu" and getattr(
            tts, "pieces_are_sentences", False
        )
        self._out: VoiceOutput | None = None
        self._stt: SttStream | None = None
        # One recognition job per call at a time, and at most one utterance
        # waiting behind it: the shared recogniser then serves calls in turn.
        self._understanding: asyncio.Task | None = None
        self._waiting: tuple[SttStream, float] | None = None
        self._said: list[str] = []
        self._just_said = False
        """The utterance being reported added its words to `_said`."""
        self._reply: tuple[int, asyncio.Task] | None = None
        self._greeting_turn: int | None = None

    async def run(self, out: VoiceOutput) -> None:
        self._out = out
        if self._agent_factory is not None:
            try:
                self.agent = self._agent_factory(self.info or CallInfo("", self.kind))
            except Exception:
                # The call cannot be answered: it hears the apology and ends.
                log.exception("the agent plug-in could not make this call's agent")
                out.event(VoiceFailed("agent factory failed"))  # counted as a voice failure
        with_tools = getattr(self.agent, "with_tools", None)
        if with_tools is not None and self.controls is not None:
            self.agent = with_tools(self.controls.functions())
        start = getattr(self.agent, "start", None)
        if start is not None:
            try:
                await start(_Link(self, out))
            except Exception as exc:
                log.warning("the agent could not start: %s", exc)
                out.event(VoiceFailed("agent start failed"))
        try:
            await asyncio.Event().wait()
        finally:
            await self.aclose()

    # ---- listening ---------------------------------------------------------

    def feed(self, audio: CallerAudio) -> None:
        out = self._out
        if out is None:
            return
        for frame in audio.frames():
            if self._stt is not None:
                self._stt.feed(frame.pcm)
            self.watch.hear(frame)

    def _on_voice(self, change: VoiceChange) -> None:
        if self._out is not None:
            self._out.event(change)

    def _on_speech(self, event: SpeechEvent) -> None:
        if self._out is None:
            return
        if isinstance(event, SpeechStarted):
            self._stt = self.stt.open_stream()
            self._stt.feed(self.watch.take_preroll())
        else:
            self._understand_later(event.at)
        self._out.event(event)

    def _understand_later(self, ended_at: float) -> None:
        stream, self._stt = self._stt, None
        if stream is None:
            return
        if self._understanding is not None and not self._understanding.done():
            if self._waiting is not None:
                self.metrics.stt_dropped.labels(self.kind).inc()
            self._waiting = (stream, ended_at)
            return
        self._understanding = asyncio.create_task(
            self._understand_each(stream, ended_at), name="stt"
        )

    async def _understand_each(self, stream: SttStream, ended_at: float) -> None:
        while True:
            await self._understand(stream, ended_at)
            if self._waiting is None:
                return
            (stream, ended_at), self._waiting = self._waiting, None

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
            self._said.append(text)
        self._just_said = bool(text)
        if self._out is not None:
            self._out.event(Utterance(text, ended_at))  # may forget_speech() it
        self._just_said = False

    # ---- speaking ----------------------------------------------------------

    def reply(self, turn_id: int, greeting: str | None = None) -> None:
        if greeting is not None:
            self._greeting_turn = turn_id  # Sluice's words, not the agent's
            pieces = self._say(greeting)
        else:
            if self._said:  # else the question a barge-in cut off is asked again
                self.history.append(Message("user", " ".join(self._said)))
            self._said.clear()
            pieces = self._respond(turn_id, list(self.history))
        task = asyncio.create_task(self._speak(turn_id, pieces), name=f"turn{turn_id}")
        self._reply = (turn_id, task)

    async def _say(self, text: str) -> AsyncGenerator[str]:
        splitter = SentenceSplitter(self.max_sentence_chars)
        for sentence in splitter.feed(text) + splitter.flush():
            yield sentence

    def _respond(self, turn_id: int, history: list[Message]) -> AsyncGenerator[str]:
        def report(name: str, args: dict, result: object, error: str | None) -> None:
            if self._out is not None:
                self._out.event(ToolCalled(turn_id, name, args, result, error))

        return sentences_of(
            self.agent, history, self.max_sentence_chars, self.sentence_queue, report,
            self.agent_timeout_s,
        )  # fmt: skip

    async def _speak(self, turn_id: int, sentences: AsyncGenerator[str | Clip]) -> None:
        out = self._out
        assert out is not None
        said: list[str] = []
        failed = False
        try:
            # aclosing: a cancelled turn closes its generators at once, which
            # aborts their HTTP requests, instead of whenever they are collected.
            async with contextlib.aclosing(sentences):
                async for sentence in sentences:
                    if isinstance(sentence, Clip):
                        if not await out.audio(turn_id, sentence.pcm, sentence.text):
                            return
                        continue
                    first = True
                    async with contextlib.aclosing(self.tts.stream(sentence)) as pieces:
                        async for pcm in pieces:
                            text = sentence if first else ""
                            if self._ulaw_whole_sentences:
                                ulaw = wire_audio.SHARED.convert(id(self.tts), sentence, pcm)
                                live = await out.audio(turn_id, b"", text, ulaw)
                            else:
                                live = await out.audio(turn_id, pcm, text)
                            if not live:
                                return
                            first = False
                    said.append(sentence)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("turn %d failed", turn_id)
            failed = True  # counted by the call, from ReplyDone
        self.history.append(Message("assistant", " ".join(said)))
        out.event(ReplyDone(turn_id, failed=failed))

    def interrupt(self, turn_id: int, heard_ms: int, heard_text: str) -> bool:
        cancelled = False
        if self._reply is not None and self._reply[0] == turn_id:
            cancelled = self._reply[1].cancel()
            self._reply = None
        if heard_text:
            self.history.append(Message("assistant", heard_text + " …"))
        interrupted = getattr(self.agent, "interrupted", None)
        if interrupted is not None and turn_id != self._greeting_turn:
            interrupted(heard_text, heard_ms)
        return cancelled

    def forget_speech(self) -> None:
        """The call will not answer the utterance just reported (a backchannel):
        its words ("yeah", "hm") do not join the caller's next message."""
        if self._just_said and self._said:
            self._said.pop()
            self._just_said = False

    def note(self, text: str) -> None:
        """Something the agent must know before its next reply (a transfer
        that failed): a system message in its history."""
        self.history.append(Message("system", text))

    def dtmf(self, digit: str) -> None:
        pressed = getattr(self.agent, "dtmf", None)
        if pressed is not None:
            pressed(digit)  # the built-in agents have no use for keys; the page shows them

    @property
    def replying_turn(self) -> int | None:
        return self._reply[0] if self._reply is not None and not self._reply[1].done() else None

    async def aclose(self) -> None:
        self.watch.close()
        tasks = [t for t in (self._understanding, self._reply and self._reply[1]) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        closing = getattr(self.agent, "aclose", None)
        if closing is not None:
            try:
                await closing()
            except Exception:
                log.exception("the agent did not close cleanly")


class _Link:
    """An agent's requests to its call (gateway.pipeline.agent.AgentLink)."""

    def __init__(self, session: CascadeSession, out: VoiceOutput) -> None:
        self._session = session
        self._out = out

    def speak(self, preempt: bool = False) -> None:
        self._out.event(AgentTurn(preempt))

    def protect(self) -> None:
        turn_id = self._session.replying_turn
        if turn_id is not None:
            self._out.event(ProtectTurn(turn_id))

    def end_call(self, reason: str = "agent ended", interruptible: bool = True) -> None:
        self._out.event(EndWhenHeard(reason, interruptible))

    def transfer(self, to: str, announcement: str = "") -> bool:
        controls = self._session.controls
        return controls is not None and controls.transfer(to, announcement)

    def fail(self, reason: str) -> None:
        self._out.event(VoiceFailed(reason))
