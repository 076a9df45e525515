"""A local fake of the Gemini Live API (BidiGenerateContent over WebSocket), for tests.

Google's servers are not reachable here, so this plays the server's side as the Live API
reference (ai.google.dev/api/live) and the google-genai SDK's live types describe it:

- the handshake: `?key=` checked (403 otherwise), `setup` first, answered by `setupComplete`;
  any other first message, an unknown field, or a message with more than one of
  setup/clientContent/realtimeInput/toolResponse closes the socket with 1007, as the real
  server closes it on an invalid payload;
- with automatic activity detection disabled, only audio between `activityStart` and
  `activityEnd` is the user's turn (the rest is ignored and counted); `activityEnd` without a
  start, or a second start, is a protocol error (1007); `activityStart` during a generation
  interrupts it (`serverContent.interrupted`), and the session keeps only what was sent;
- `clientContent` appends turns to the context and, with `turnComplete`, asks for a reply;
  like `activityStart`, it interrupts a generation in progress;
- replies stream 24 kHz PCM faster than real time in `modelTurn` parts, with
  `outputTranscription` in line, then `generationComplete` and `turnComplete`;
- `toolCall` / `toolResponse` by id (an unknown id is a 1007), `goAway` with `timeLeft`, then
  the socket closes; `sessionResumptionUpdate` handles, which restore the context on a new
  socket whose setup names them.

Knobs a test may set (read live): `next_tool_call = (name, args)`; `garbage_after_chunks = N`
(after N audio chunks of every reply: a non-JSON frame, an unknown message, bad base64 and a
part of the wrong type, then carry on). `await go_away(session, time_left_s)` sends goAway.
Bound to 127.0.0.1; recorded lists are bounded by `record_limit`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes.realtime_support import tone_pcm24k

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
CHUNK_MS = 100
SETUP_KEYS = {
    "model", "generationConfig", "systemInstruction", "tools", "realtimeInputConfig",
    "outputAudioTranscription", "inputAudioTranscription", "sessionResumption",
    "contextWindowCompression", "proactivity", "enableAffectiveDialog",
}  # fmt: skip
REALTIME_KEYS = {"audio", "video", "text", "activityStart", "activityEnd", "audioStreamEnd"}


class ProtocolViolation(Exception):
    """What the real server answers by closing with 1007 and a reason."""


@dataclass
class Generation:
    text: str
    words_sent: list[str] = field(default_factory=list)
    audio_sent_ms: int = 0
    status: str = "generating"  # completed, interrupted
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class FakeLiveSession:
    """One connection. Tests read: `setup`, `client_messages`, `context` (the conversation the
    model holds, as (role, text) pairs), `generations`, `activity` (a list of "start"/"end"),
    `audio_in_activity_ms`, `ignored_audio_ms`, `tool_responses`, `resumed_from`, `closed`."""

    def __init__(self, server: FakeGeminiLive, ws: ServerConnection) -> None:
        self.server, self._ws = server, ws
        self.setup: dict[str, Any] = {}
        self.client_messages: list[dict[str, Any]] = []
        self.context: list[tuple[str, str]] = []
        self.generations: list[Generation] = []
        self.activity: list[str] = []
        self.audio_in_activity_ms = 0.0
        self.ignored_audio_ms = 0.0
        self.tool_responses: list[dict[str, Any]] = []
        self.resumed_from: str | None = None
        self.closed = asyncio.Event()
        self._open_activity = False
        self._turn_audio_ms = 0.0
        self._pending_tools: dict[str, tuple[str, Generation]] = {}

    @property
    def current(self) -> Generation | None:
        g = self.generations[-1] if self.generations else None
        return g if g is not None and g.status == "generating" else None

    async def send(self, message: dict[str, Any]) -> None:
        await self._ws.send(json.dumps(message))

    async def send_raw(self, text: str) -> None:
        await self._ws.send(text)

    # ---- client messages ----------------------------------------------------

    async def take(self, message: Any) -> None:
        if not isinstance(message, dict):
            raise ProtocolViolation("Invalid JSON payload received: not an object")
        kinds = [k for k in ("setup", "clientContent", "realtimeInput", "toolResponse")
                 if k in message]  # fmt: skip
        extra = set(message) - {"setup", "clientContent", "realtimeInput", "toolResponse"}
        if extra:
            raise ProtocolViolation(f"Unknown name {sorted(extra)[0]!r}: Cannot find field.")
        if len(kinds) != 1:
            raise ProtocolViolation("exactly one of setup, clientContent, realtimeInput, "
                                    "toolResponse must be set")  # fmt: skip
        kind = kinds[0]
        if not self.setup and kind != "setup":
            raise ProtocolViolation("setup must be the first message")
        if kind == "setup":
            await self._setup(message["setup"])
        elif kind == "realtimeInput":
            await self._realtime(message["realtimeInput"])
        elif kind == "clientContent":
            await self._client_content(message["clientContent"])
        else:
            await self._tool_response(message["toolResponse"])

    async def _setup(self, setup: Any) -> None:
        if self.setup:
            raise ProtocolViolation("setup may be sent only once")
        if not isinstance(setup, dict) or set(setup) - SETUP_KEYS:
            raise ProtocolViolation(f"Unknown setup field: {sorted(set(setup) - SETUP_KEYS)}")
        if not str(setup.get("model", "")).startswith("models/"):
            raise ProtocolViolation("model must be models/{model}")
        modalities = setup.get("generationConfig", {}).get("responseModalities")
        if modalities != ["AUDIO"]:
            raise ProtocolViolation("a native-audio model needs responseModalities [AUDIO]")
        handle = setup.get("sessionResumption", {}).get("handle")
        if handle:
            saved = self.server.handles.get(handle)
            if saved is None:
                raise ProtocolViolation("session resumption handle not found")
            self.context = list(saved)
            self.resumed_from = handle
        self.setup = setup
        await self.send({"setupComplete": {}})
        await self._new_handle()

    @property
    def manual_activity(self) -> bool:
        detection = self.setup.get("realtimeInputConfig", {}).get("automaticActivityDetection", {})
        return bool(detection.get("disabled"))

    async def _realtime(self, realtime: Any) -> None:
        if not isinstance(realtime, dict) or set(realtime) - REALTIME_KEYS or len(realtime) != 1:
            raise ProtocolViolation("realtimeInput takes exactly one known field")
        ((key, value),) = realtime.items()
        if key in ("activityStart", "activityEnd") and not self.manual_activity:
            raise ProtocolViolation(f"{key} needs automatic activity detection disabled")
        if key == "activityStart":
            if self._open_activity:
                raise ProtocolViolation("activityStart while an activity is open")
            self.activity.append("start")
            self._open_activity = True
            self._turn_audio_ms = 0.0
            await self._interrupt()
        elif key == "activityEnd":
            if not self._open_activity:
                raise ProtocolViolation("activityEnd without activityStart")
            self.activity.append("end")
            self._open_activity = False
            if self._turn_audio_ms == 0:
                # Nothing to answer: a client that sends its audio after the
                # activityEnd (out of order) would get no reply from the model.
                self.server.violations.append("an activity with no audio")
                return
            self.context.append(("user", f"<{round(self._turn_audio_ms)} ms of speech>"))
            self._start(self.server.reply_text)
        elif key == "audio":
            mime = value.get("mimeType", "") if isinstance(value, dict) else ""
            if mime != "audio/pcm;rate=16000":
                raise ProtocolViolation(f"unsupported audio mimeType {mime!r}")
            try:
                pcm = base64.b64decode(value.get("data", ""), validate=True)
            except (binascii.Error, ValueError):
                raise ProtocolViolation("audio data is not base64") from None
            ms = len(pcm) / 32.0
            if self._open_activity:
                self.audio_in_activity_ms += ms
                self._turn_audio_ms += ms
            else:
                self.ignored_audio_ms += ms

    async def _client_content(self, content: Any) -> None:
        turns = content.get("turns", []) if isinstance(content, dict) else None
        if not isinstance(turns, list):
            raise ProtocolViolation("clientContent.turns must be a list")
        await self._interrupt()  # client content interrupts the generation in progress
        for turn in turns:
            role = turn.get("role")
            if role not in ("user", "model"):
                raise ProtocolViolation(f"unknown role {role!r}")
            text = " ".join(p.get("text", "") for p in turn.get("parts", []))
            self.context.append((role, text))
        if content.get("turnComplete"):
            said = self.context[-1][1] if self.context else ""
            quoted = said.split('"')[1] if said.count('"') >= 2 else self.server.reply_text
            self._start(quoted if "exactly this" in said else self.server.reply_text)

    async def _tool_response(self, response: Any) -> None:
        for fr in response.get("functionResponses", []):
            pending = self._pending_tools.pop(fr.get("id"), None)
            if pending is None:
                raise ProtocolViolation(f"no pending function call with id {fr.get('id')!r}")
            self.tool_responses.append(fr)
            name, generation = pending
            self.context.append(("tool", json.dumps(fr.get("response"))))
            if generation.status == "generating":
                generation.task = asyncio.create_task(self._speak(generation))

    # ---- generations ----------------------------------------------------------

    def _start(self, text: str) -> None:
        generation = Generation(text)
        self.generations.append(generation)
        tool = self.server.next_tool_call
        declared = [d["name"] for t in self.setup.get("tools", [])
                    for d in t.get("functionDeclarations", [])]  # fmt: skip
        if tool is not None and tool[0] in declared:
            self.server.next_tool_call = None
            generation.task = asyncio.create_task(self._call_tool(generation, *tool))
        else:
            generation.task = asyncio.create_task(self._speak(generation))

    async def _call_tool(self, generation: Generation, name: str, args: dict) -> None:
        call_id = secrets.token_hex(6)
        self._pending_tools[call_id] = (name, generation)
        await self.send({"toolCall": {"functionCalls": [{"id": call_id, "name": name,
                                                         "args": args}]}})  # fmt: skip
        # Native-audio models end the turn here; the answer comes in the next.
        await self.send({"serverContent": {"turnComplete": True}})

    async def _speak(self, generation: Generation) -> None:
        server = self.server
        await self.send({"sessionResumptionUpdate": {"resumable": False}})  # not mid-turn
        words = generation.text.split()
        total_ms = max(CHUNK_MS, len(words) * server.word_ms)
        pcm = tone_pcm24k(total_ms)
        per_chunk = 24 * 2 * CHUNK_MS
        chunks = (len(pcm) + per_chunk - 1) // per_chunk
        for i in range(chunks):
            piece = pcm[i * per_chunk : (i + 1) * per_chunk]
            data = base64.b64encode(piece).decode()
            part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
            upto = round(len(words) * (i + 1) / chunks)
            new = words[len(generation.words_sent) : upto]
            content: dict[str, Any] = {"modelTurn": {"parts": [part]}}
            if new:
                content["outputTranscription"] = {"text": " ".join(new) + " "}
            await self.send({"serverContent": content})
            generation.words_sent += new
            generation.audio_sent_ms += CHUNK_MS
            if server.garbage_after_chunks is not None and i + 1 == server.garbage_after_chunks:
                await self.send_raw("{not json")
                await self.send({"mysteryMessage": {}})
                bad = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "!!"}}
                await self.send({"serverContent": {"modelTurn": {"parts": [bad]}}})
                await self.send({"serverContent": {"modelTurn": {"parts": ["not a part"]}}})
            await asyncio.sleep(CHUNK_MS / 1000 / server.speed)
        generation.status = "completed"
        self.context.append(("model", " ".join(generation.words_sent)))
        await self.send({"serverContent": {"generationComplete": True}})
        await self.send({"serverContent": {"turnComplete": True}})
        await self._new_handle()

    async def _interrupt(self) -> None:
        generation = self.current
        if generation is None:
            return
        generation.status = "interrupted"
        if generation.task is not None and generation.task is not asyncio.current_task():
            generation.task.cancel()
        # Only what was already sent to the client stays in the session's history.
        self.context.append(("model", " ".join(generation.words_sent)))
        for call_id in [c for c, (_, g) in self._pending_tools.items() if g is generation]:
            del self._pending_tools[call_id]
            await self.send({"toolCallCancellation": {"ids": [call_id]}})
        await self.send({"serverContent": {"interrupted": True}})
        await self.send({"serverContent": {"turnComplete": True}})  # a cut turn ends too

    async def _new_handle(self) -> None:
        handle = secrets.token_hex(8)
        self.server.handles[handle] = list(self.context)
        await self.send({"sessionResumptionUpdate": {"newHandle": handle, "resumable": True}})


class FakeGeminiLive:
    """`async with FakeGeminiLive() as fake:` point the client at `fake.url`; read `sessions`."""

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        speed: float = 20.0,
        word_ms: int = 300,
        reply_text: str = "Hello from the fake Gemini model, speaking faster than real time.",
    ) -> None:
        self.api_key, self.speed, self.word_ms = api_key, speed, word_ms
        self.reply_text = reply_text
        self.record_limit = 20_000
        self.next_tool_call: tuple[str, dict] | None = None
        self.garbage_after_chunks: int | None = None
        self.sessions: list[FakeLiveSession] = []
        self.handles: dict[str, list[tuple[str, str]]] = {}
        self.violations: list[str] = []
        self.url = ""
        self._server: Server | None = None

    async def __aenter__(self) -> FakeGeminiLive:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._check, max_size=16 * 2**20
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}{PATH}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        key = parse_qs(url.query).get("key", [""])[0]
        if url.path != PATH or key != self.api_key:
            return ws.respond(HTTPStatus.FORBIDDEN, "API key not valid\n")
        return None

    async def session(self, index: int, timeout: float = 5.0) -> FakeLiveSession:
        async with asyncio.timeout(timeout):
            while len(self.sessions) <= index or not self.sessions[index].setup:
                await asyncio.sleep(0.005)
        return self.sessions[index]

    async def go_away(self, session: FakeLiveSession, time_left_s: float) -> None:
        """As the real server before it ends a connection: goAway, then the close."""
        await session.send({"goAway": {"timeLeft": f"{time_left_s:g}s"}})

        async def close_later() -> None:
            await asyncio.sleep(time_left_s)
            await session._ws.close(1000, "session time limit")

        asyncio.get_running_loop().create_task(close_later())

    async def _serve(self, ws: ServerConnection) -> None:
        session = FakeLiveSession(self, ws)
        self.sessions.append(session)
        try:
            async for raw in ws:
                session.client_messages.append(json.loads(raw) if _is_json(raw) else {"raw": raw})
                del session.client_messages[: -self.record_limit]
                try:
                    await session.take(json.loads(raw))
                except (ValueError, ProtocolViolation) as exc:
                    self.violations.append(str(exc))
                    await ws.close(1007, str(exc)[:120])
                    return
        except ConnectionClosed:
            pass
        finally:
            for generation in session.generations:
                if generation.task is not None:
                    generation.task.cancel()
            session.closed.set()


def _is_json(raw: str | bytes) -> bool:
    with contextlib.suppress(ValueError):
        json.loads(raw)
        return True
    return False
