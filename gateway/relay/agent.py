"""A ConversationRelay agent socket as a call's agent (`agent = "relay"`).

Sluice does what Twilio does for a ConversationRelay app: one WebSocket per
call, `setup` first, a `prompt` for each utterance its recogniser finalises,
`dtmf` for keys, and `interrupt` with what the caller heard, from confirmed
playout. The app's `text` tokens become the reply Sluice speaks; `play` and
`sendDigits` become audio in it; `end` ends the call once it has been heard.

Talk cycles: the app's messages up to a `text` with `last: true` are one
cycle (a `play` or `sendDigits` outside any open cycle is a cycle by itself),
and each is numbered as it arrives. A reply speaks one cycle. A cycle that
arrives when no reply is open (the app answering a key, or speaking after a
slow tool) asks the call for a turn of its own. A barge-in that cuts a reply
part-way cuts its cycle: what is left of it, queued or still arriving, is
dropped, until its `last` or the next prompt, as the caller never hears it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import websockets
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import Agent, AgentLink, CallInfo, Clip, Message, ToolReport
from gateway.relay import protocol, sounds
from gateway.relay.protocol import AgentMessage, BadMessage, End, Language, Play, SendDigits, Text

log = logging.getLogger(__name__)
AgentFactory = Callable[[CallInfo], Agent]

OPEN_TIMEOUT_S = 5.0
CLOSE_TIMEOUT_S = 2.0
BAD_IN_A_ROW = 10
"""Malformed messages in a row that end the call: the app is not speaking
ConversationRelay. Each one before that gets an `error` message."""
TOKENS_WAITING = 256
"""Messages taken from the app and not yet spoken; past this the socket is
not read (the app's own send buffer fills)."""
SENDS_WAITING = 64
MAX_SOCKET_MESSAGE = 1 << 20
"""Frames up to this are read and refused with an `error` if too long for a
message; past it the socket closes (1009)."""
PLAYS_PER_REPLY = 8
INTERRUPTS_KEPT = 32
ENDS_SENTENCE = (".", "!", "?", "…")

@dataclass(frozen=True)
class RelayConfig:
    url: str
    headers: dict[str, str] = field(default_factory=dict)
    language: str = "en-US"
    twilio_auth_token: str = ""
    """When set, the handshake carries X-Twilio-Signature, as Twilio signs it,
    so an app that checks the signature runs unchanged."""


class RelayClosed(RuntimeError):
    pass


class RelayAgent:
    def __init__(self, info: CallInfo, config: RelayConfig, metrics: GatewayMetrics) -> None:
        self.info = info
        self.config = config
        self._metrics = metrics
        self._lang = config.language
        self._link: AgentLink | None = None
        self._socket: websockets.ClientConnection | None = None
        self._ready = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._sends: asyncio.Queue[str] = asyncio.Queue(SENDS_WAITING)
        self._tokens: asyncio.Queue[tuple[int, bool, AgentMessage]] = asyncio.Queue(
            TOKENS_WAITING
        )
        """(cycle, whether it ends the cycle, message), in arrival order."""
        self._rx_cycle = 0
        """The cycle the app's next message belongs to."""
        self._rx_open = False
        """A cycle's text is streaming (its `last` not yet received)."""
        self._consume = 0
        """The cycle the next reply speaks; every earlier one is spoken or cut."""
        self._prompted: Message | None = None
        self._replies = 0
        self._replying = False
        self._mid_cycle = False
        """A reply has taken part of a cycle and not its end: a cut there cuts it."""
        self._asked = False
        """A turn was asked for the cycle waiting, and has not begun."""
        self._preemptible = False
        """The cycle being spoken may be cut by the next one."""
        self._preempting = False
        self._bad = 0
        self._ended = False
        self._closing = False
        self.interrupts_sent: deque[tuple[str, int]] = deque(maxlen=INTERRUPTS_KEPT)

    # ---- the connection ----------------------------------------------------

    async def start(self, link: AgentLink) -> None:
        self._link = link
        headers = dict(self.config.headers)
        if self.config.twilio_auth_token:
            validator = RequestValidator(self.config.twilio_auth_token)
            headers["X-Twilio-Signature"] = validator.compute_signature(self.config.url, {})
        try:
            self._socket = await websockets.connect(
                self.config.url,
                additional_headers=headers,
                open_timeout=OPEN_TIMEOUT_S,
                close_timeout=CLOSE_TIMEOUT_S,
                max_size=MAX_SOCKET_MESSAGE,
                max_queue=16,
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI) as exc:
            self._metrics.relay_problems.labels("open").inc()
            raise RelayClosed(f"the agent socket did not open: {exc}") from None
        info = self.info
        await self._socket.send(
            protocol.setup(
                info.call_id,
                info.call_id,
                info.caller,
                info.callee,
                "PSTN" if info.carrier else "CLIENT",
                info.parameters,
            )
        )
        self._tasks = [
            asyncio.create_task(self._read(), name="relay-read"),
            asyncio.create_task(self._write(), name="relay-write"),
        ]
        self._ready.set()

    async def aclose(self) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close()

    def _send(self, message: str) -> None:
        try:
            self._sends.put_nowait(message)
        except asyncio.QueueFull:
            self._fail("the agent socket does not take what is sent to it", "closed")

    async def _write(self) -> None:
        assert self._socket is not None
        try:
            while True:
                await self._socket.send(await self._sends.get())
        except ConnectionClosed:
            pass  # the reader sees the close and reports it

    async def _read(self) -> None:
        assert self._socket is not None
        try:
            async for raw in self._socket:
                try:
                    message = protocol.parse(raw)
                except BadMessage as exc:
                    if self._bad_message(str(exc)):
                        return
                    continue
                self._bad = 0
                await self._take(message)
        except ConnectionClosed:
            pass
        except Exception:
            # Never a silent, deaf agent: whatever broke the reader ends the call.
            log.exception("the agent socket's reader failed")
            self._fail("the agent socket's reader failed", "closed")
            return
        if not self._ended and not self._closing:
            self._fail("the agent socket closed mid-call", "closed")

    def _bad_message(self, reason: str) -> bool:
        """Tell the app, count it; True once the call must end."""
        self._metrics.relay_problems.labels("bad_message").inc()
        self._bad += 1
        log.warning("the agent socket sent a bad message (%d in a row): %s", self._bad, reason)
        if self._bad >= BAD_IN_A_ROW:
            self._fail(f"{BAD_IN_A_ROW} bad messages in a row from the agent socket", None)
            return True
        self._send(protocol.error(f"Invalid message: {reason}"))
        return False

    def _fail(self, reason: str, kind: str | None) -> None:
        if self._ended or self._closing:
            return
        self._ended = True
        if kind is not None:
            self._metrics.relay_problems.labels(kind).inc()
        log.warning("%s: the call ends with the apology", reason)
        if self._link is not None:
            self._link.fail(reason)

    # ---- what the app sends ------------------------------------------------

    async def _take(self, message: AgentMessage) -> None:
        match message:
            case Language(tts, transcription):
                self._lang = transcription or tts or self._lang
            case End(handoff):
                log.info("the agent ended the call (handoffData %r)", handoff[:200])
                self._ended = True
                if self._replying or not self._tokens.empty():
                    await self._tokens.put((self._rx_cycle, True, message))  # ends the reply
                if self._link is not None:
                    self._link.end_call("agent ended", interruptible=False)
            case _:
                cycle = self._rx_cycle
                if isinstance(message, Text):
                    ends = message.last
                    self._rx_open = not message.last
                else:
                    ends = not self._rx_open  # a play or digits on its own
                if ends:
                    self._rx_cycle += 1
                if cycle < self._consume:
                    return  # the rest of a cycle a barge-in cut: never heard
                await self._tokens.put((cycle, ends, message))
                if not self._replying and not self._asked and self._link is not None:
                    self._asked = True
                    self._preempting = self._preemptible
                    self._link.speak(preempt=self._preemptible)

    # ---- the Agent interface ----------------------------------------------

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str | Clip]:
        await self._ready.wait()
        self._replies += 1
        mine = self._replies
        self._replying = True
        self._preemptible = self._preempting = False  # a cut it asked for is done by now
        plays = 0
        try:
            latest = history[-1] if history and history[-1].role == "user" else None
            if latest is not None and latest is not self._prompted:
                self._prompted = latest
                # What the app sends after a prompt answers it: a new cycle, even
                # if the app dropped a cut one without its `last`.
                self._rx_cycle, self._rx_open = max(self._rx_cycle, self._consume), False
                self._send(protocol.prompt(latest.text, self._lang))
            self._asked = False
            while True:
                cycle, ends, item = await self._tokens.get()
                if cycle < self._consume:
                    continue  # queued before its cycle was cut
                self._consume, self._mid_cycle = cycle, not ends
                match item:
                    case Text(token):
                        self._mark(item.interruptible, item.preemptible)
                        if token:
                            # A token that ends a sentence is spoken without waiting
                            # for the next one (the splitter needs the space after it).
                            yield token + " " if token.endswith(ENDS_SENTENCE) else token
                    case Play(source, loop):
                        self._mark(item.interruptible, item.preemptible)
                        plays += 1
                        pcm = await self._clip(source) if plays <= PLAYS_PER_REPLY else b""
                        for _ in range(loop if pcm else 0):
                            yield Clip(pcm)
                    case SendDigits(digits):
                        yield Clip(sounds.dtmf_tones(digits))
                    case End():
                        return
                if ends:
                    self._consume = cycle + 1
                    return
        finally:
            if mine == self._replies:
                self._replying = False

    def _mark(self, interruptible: bool, preemptible: bool) -> None:
        self._preemptible |= preemptible
        if not interruptible and self._link is not None:
            self._link.protect()

    async def _clip(self, source: str) -> bytes:
        try:
            return await sounds.clip(source)
        except sounds.PlayFailed as exc:
            self._metrics.relay_problems.labels("play").inc()
            log.warning("play failed: %s", exc)
            return b""

    def interrupted(self, heard_text: str, heard_ms: int) -> None:
        self._preemptible = False
        if self._preempting:
            self._preempting = False  # cut for the app's own next cycle, not by the caller
            return
        if self._mid_cycle:
            # The cycle it was speaking: the rest is never heard. A reply cut
            # before it took anything leaves its answer standing.
            self._consume += 1
            self._mid_cycle = False
        if heard_ms > 0:
            self.interrupts_sent.append((heard_text, heard_ms))
            self._send(protocol.interrupt(heard_text, heard_ms))

    def dtmf(self, digit: str) -> None:
        if self._ready.is_set():
            self._send(protocol.dtmf(digit))


def relay_factory(config: RelayConfig, metrics: GatewayMetrics) -> AgentFactory:
    """The factory that makes each call's relay agent."""

    def make(info: CallInfo) -> RelayAgent:
        return RelayAgent(info, config, metrics)

    return make
