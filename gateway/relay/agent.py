"""A ConversationRelay agent socket as a call's agent (`agent = "relay"`).

Sluice does what Twilio does for a ConversationRelay app: one WebSocket per
call, `setup` first, a `prompt` for each utterance its recogniser finalises,
`dtmf` for keys, and `interrupt` with what the caller heard, from confirmed
playout. The app's `text` tokens become the reply Sluice speaks; `play` and
`sendDigits` become audio in it; `end` ends the call once it has been heard.

Talk cycles: a prompt opens one, and the app's tokens up to `last: true`
answer it. Tokens that arrive when no reply is open (the app answering a key,
or speaking after a slow tool) ask the call for a turn of their own. After an
interrupt, tokens still streaming for the cut cycle are dropped until that
cycle's `last` or the next prompt, as the caller never hears them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import websockets
from twilio.request_validator import RequestValidator
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import Agent, AgentLink, CallInfo, Clip, Message, ToolReport
from gateway.relay import protocol, sounds
from gateway.relay.protocol import BadMessage, End, Language, Play, SendDigits, Text

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
        self._tokens: asyncio.Queue[Text | Play | SendDigits | End] = asyncio.Queue(TOKENS_WAITING)
        self._prompted: Message | None = None
        self._replying = False
        self._asked = False
        """A turn was asked for the tokens waiting, and has not begun."""
        self._preemptible = False
        """The cycle last spoken may be cut by the next one's text."""
        self._preempting = False
        self._discarding = False
        self._bad = 0
        self._ended = False
        self._closing = False
        self.interrupts_sent: list[tuple[str, int]] = []

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
                max_size=protocol.MAX_MESSAGE_BYTES,
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

    async def _take(self, message: protocol.AgentMessage) -> None:
        match message:
            case Language(tts, transcription):
                self._lang = transcription or tts or self._lang
            case End(handoff):
                log.info("the agent ended the call (handoffData %r)", handoff[:200])
                self._ended = True
                if self._replying or not self._tokens.empty():
                    await self._tokens.put(message)  # the reply under way ends here
                if self._link is not None:
                    self._link.end_call("agent ended")
            case _:
                if self._discarding:
                    # Still the cut cycle: the caller will never hear it.
                    if isinstance(message, Text) and message.last:
                        self._discarding = False
                    return
                await self._tokens.put(message)
                if not self._replying and not self._asked and self._link is not None:
                    self._asked = True
                    self._preempting = self._preemptible
                    self._link.speak(preempt=self._preemptible)

    # ---- the Agent interface ----------------------------------------------

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str | Clip]:
        await self._ready.wait()
        self._replying = True
        self._preemptible = False
        self._preempting = False  # a cut it asked for was carried out before this runs
        try:
            latest = history[-1] if history and history[-1].role == "user" else None
            if latest is not None and (latest is not self._prompted or not self._asked):
                self._prompted = latest
                self._discarding = False
                self._send(protocol.prompt(latest.text, self._lang))
            self._asked = False
            while True:
                item = await self._tokens.get()
                match item:
                    case Text():
                        self._preemptible |= item.preemptible
                        if not item.interruptible and self._link is not None:
                            self._link.protect()
                        if item.token:
                            yield item.token
                        if item.last:
                            return
                    case Play(source, loop):
                        try:
                            pcm = await sounds.clip(source)
                        except sounds.PlayFailed as exc:
                            self._metrics.relay_problems.labels("play").inc()
                            log.warning("play failed: %s", exc)
                            continue
                        for _ in range(loop):
                            yield Clip(pcm)
                    case SendDigits(digits):
                        yield Clip(sounds.dtmf_tones(digits))
                    case End():
                        return
        finally:
            self._replying = False

    def interrupted(self, heard_text: str, heard_ms: int) -> None:
        if self._preempting:
            self._preempting = False  # cut for the app's own next text, not by the caller
            return
        self._discarding = True
        while not self._tokens.empty():  # the cut cycle's tokens not yet taken
            item = self._tokens.get_nowait()
            if isinstance(item, Text) and item.last:
                self._discarding = False
                break
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
