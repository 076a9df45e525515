"""A local fake of the OpenAI Realtime API (GA interface, over WebSocket), for tests.

No hosted service is reachable here, so this plays the server's side as the GA reference and
public wire captures describe it: GA event names and session shape, audio streamed faster
than real time, server VAD that cancels the reply in progress and starts the next one, and
the errors real clients trip over (truncating past the audio sent, cancelling nothing, a
second response while one is active, beta-shaped sessions, the beta header).

Knobs a test may set on a running `FakeRealtime` (read live, at each response):

- `next_tool_call = (name, arguments_json)`: the next response whose tools include `name`
  is that function call instead of speech (consumed when used).
- `drop_after_deltas = N`: after N audio deltas of a reply, abort the socket without a close
  frame (the client sees 1006). One-shot: it resets to None when it fires, so a client that
  reconnects is served normally.
- `garbage_after_deltas = N`: after N audio deltas of every reply, send a non-JSON text
  frame, an event of an unknown type, a delta with bad base64 and a delta missing its
  fields, then carry on.

Bound to 127.0.0.1 only. Recorded lists keep at most `record_limit` entries each (the oldest
go), so nothing grows without bound; nothing queues: a slow reader slows the sender.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from tests.fakes import realtime_support as rs
from tests.fakes.realtime_support import RealtimeError

CHUNK_MS = 100
_PRIVATE = ("audio_sent_ms", "truncated_at_ms")
T = TypeVar("T")


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(10)}"


def _wire(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in _PRIVATE}


class _Dropped(Exception):
    """The fake aborted the connection on purpose."""


@dataclass
class FakeResponse:
    id: str
    trigger: str  # "client" (response.create) or "turn_detection" (server VAD)
    params: dict[str, Any]
    status: str = "in_progress"  # then completed or cancelled; "disconnected" is the fake's own
    status_details: dict[str, Any] | None = None
    output: list[dict[str, Any]] = field(default_factory=list)
    audio_deltas: int = 0
    stop_reason: str | None = None
    finishing: bool = False  # generation over, closing events under way: too late to cancel
    wake: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    task: asyncio.Task[None] | None = field(default=None, repr=False)


class FakeSession:
    """One client connection and everything it did.

    Tests read: `model` (the ?model= query), `authorization`, `headers`, `client_events` (every
    JSON event received, in order) with `client_event_times` (their time.monotonic()),
    `server_events`, `errors_sent`, `session_config` (the effective GA session), `input_ms`
    (caller audio received), `buffered_ms`, `items` (the conversation by id; assistant audio
    items carry `audio_sent_ms` and, once truncated, `truncated_at_ms`), `truncations`,
    `function_outputs`, `cancels`, `interruptions`, `responses` (FakeResponse: id, trigger,
    status, status_details, params, output), `active` and `closed` (an asyncio.Event).
    """

    def __init__(self, server: FakeRealtime, ws: ServerConnection, model: str) -> None:
        self.server, self._ws, self.model = server, ws, model
        self.authorization: str | None = ws.request.headers.get("Authorization")
        self.headers: dict[str, str] = dict(ws.request.headers.raw_items())
        self.client_events: list[dict[str, Any]] = []
        self.client_event_times: list[float] = []  # time.monotonic() of each, parallel list
        self.server_events: list[dict[str, Any]] = []
        self.errors_sent: list[dict[str, Any]] = []
        expires = int(time.time()) + 3600
        self.session_config = rs.default_session(model, _id("sess"), server.vad_silence_ms, expires)
        self.input_ms = 0.0  # all caller audio received, in ms
        self.buffered_ms = 0.0  # caller audio since the last commit or clear
        self.items: dict[str, dict[str, Any]] = {}  # the conversation, in order
        self.truncations: list[dict[str, Any]] = []
        self.function_outputs: list[dict[str, Any]] = []
        self.cancels = 0  # response.cancel events that cancelled something
        self.interruptions = 0  # responses server VAD cancelled
        self.responses: list[FakeResponse] = []
        self.active: FakeResponse | None = None
        self.closed = asyncio.Event()
        self._vad = rs.EnergyVad(
            server.vad_threshold_dbfs, server.vad_start_ms, server.vad_silence_ms
        )
        self._speech_item: str | None = None
        self._assistant_audio = False
        self._prev: dict[str, str | None] = {}

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Poll `predicate` until it returns something truthy; return that."""
        async with asyncio.timeout(timeout):
            while not (value := predicate()):
                await asyncio.sleep(0.005)
        return value

    def client_events_of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.client_events if e.get("type") == kind]

    def _record(self, target: list[Any], value: Any) -> None:
        target.append(value)
        if len(target) > self.server.record_limit:
            del target[: len(target) // 10]

    async def _send(self, kind: str, **fields: Any) -> None:
        event = {"type": kind, "event_id": _id("event"), **fields}
        self._record(self.server_events, event)
        if kind == "error":
            self._record(self.errors_sent, event)
        await self._ws.send(json.dumps(event))

    async def send_raw(self, text: str) -> None:
        """A message of the test's own making, sent as it is (an attack, a glitch)."""
        await self._ws.send(text)

    async def _error(self, err: RealtimeError, client_event_id: str | None) -> None:
        body = {"type": err.kind, "code": err.code, "message": err.message, "param": err.param}
        await self._send("error", error={**body, "event_id": client_event_id})

    def _audio_cfg(self, side: str) -> dict[str, Any]:
        return self.session_config["audio"][side]

    def _add_item(self, item: dict[str, Any]) -> str | None:
        prev = next(reversed(self.items), None)
        self.items[item["id"]] = item
        self._prev[item["id"]] = prev
        return prev

    async def run(self) -> None:
        try:
            if "realtime=v1" in self._ws.request.headers.get("OpenAI-Beta", ""):
                # GA refuses beta clients before anything else, then hangs up.
                await self._error(RealtimeError("beta_api_shape_disabled", rs.BETA_REFUSED), None)
                await self._ws.close(4000, "beta_api_shape_disabled")
                return
            await self._send("session.created", session=self.session_config)
            async for message in self._ws:
                await self._handle(message)
        except ConnectionClosed:
            pass
        finally:
            resp = self.active
            if resp is not None and resp.task is not None:
                resp.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await resp.task
                resp.status = "disconnected"
            self.closed.set()

    async def _handle(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError as exc:
            return await self._error(RealtimeError("invalid_json", f"Invalid JSON: {exc}"), None)
        if not isinstance(event, dict):
            return await self._error(RealtimeError("invalid_event", "Expected an object."), None)
        self._record(self.client_events, event)
        self._record(self.client_event_times, time.monotonic())
        kind = event.get("type")
        try:
            if kind is None:
                raise RealtimeError("invalid_event", "The 'type' field is missing.", "type")
            if kind not in rs.CLIENT_EVENTS:
                raise rs.invalid(
                    "type", kind, f" Supported values are: {', '.join(rs.CLIENT_EVENTS)}."
                )
            await getattr(self, "_on_" + kind.replace(".", "_"))(event)
        except RealtimeError as err:
            await self._error(err, event.get("event_id"))

    # --- session and input audio ---------------------------------------------

    async def _on_session_update(self, event: dict[str, Any]) -> None:
        update = event.get("session")
        rs.check_session(update)
        voice = update.get("audio", {}).get("output", {}).get("voice")
        if voice not in (None, self._audio_cfg("output")["voice"]) and self._assistant_audio:
            msg = "Cannot update a conversation's voice if assistant audio is present."
            raise RealtimeError("cannot_update_voice", msg)
        self.session_config = rs.merge(self.session_config, update)
        if self._audio_cfg("input").get("turn_detection") is None:
            self._vad.reset()
        await self._send("session.updated", session=self.session_config)

    async def _on_input_audio_buffer_append(self, event: dict[str, Any]) -> None:
        if not isinstance(event.get("audio"), str):
            raise rs.missing("audio")
        try:
            raw = base64.b64decode(event["audio"], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise RealtimeError(
                "invalid_value", "Invalid 'audio': not valid base64.", "audio"
            ) from exc
        fmt = self._audio_cfg("input")["format"]["type"]
        rate, width = rs.FORMAT_RATES[fmt], rs.sample_width(fmt)
        ms = len(raw) / width / rate * 1000
        self.input_ms += ms
        self.buffered_ms += ms
        td = self._audio_cfg("input").get("turn_detection")
        for hit in self._vad.feed(fmt, raw, td):
            await self._on_vad(hit, td)

    async def _on_vad(self, hit: tuple[str, int], td: dict[str, Any]) -> None:
        what, at_ms = hit
        if what == "start":
            self._speech_item = _id("item")
            await self._send(
                "input_audio_buffer.speech_started", audio_start_ms=at_ms, item_id=self._speech_item
            )
            active = self.active
            if td.get("interrupt_response", True) and active is not None and not active.finishing:
                self.interruptions += 1
                await self._stop_response("turn_detected")
            return
        item_id, self._speech_item = self._speech_item or _id("item"), None
        await self._send("input_audio_buffer.speech_stopped", audio_end_ms=at_ms, item_id=item_id)
        await self._commit(item_id)
        if not td.get("create_response", True):
            return
        if self.active is not None and self.active.finishing and self.active.task is not None:
            await self.active.task  # a reply that is closing out must not swallow the turn
        if self.active is None:
            self._start_response({}, "turn_detection")

    async def _commit(self, item_id: str) -> None:
        content: dict[str, Any] = {"type": "input_audio", "transcript": None}
        item = {"id": item_id, "object": "realtime.item", "type": "message"}
        item |= {"status": "completed", "role": "user", "content": [content]}
        prev = self._add_item(item)
        self.buffered_ms = 0.0
        await self._send("input_audio_buffer.committed", item_id=item_id, previous_item_id=prev)
        await self._send("conversation.item.added", previous_item_id=prev, item=item)
        transcript = self.server.user_transcript
        transcribe = bool(self._audio_cfg("input").get("transcription"))
        if transcribe:
            content["transcript"] = transcript
        await self._send("conversation.item.done", previous_item_id=prev, item=item)
        if transcribe:
            kind = "conversation.item.input_audio_transcription.completed"
            await self._send(kind, item_id=item_id, content_index=0, transcript=transcript)

    async def _on_input_audio_buffer_commit(self, event: dict[str, Any]) -> None:
        if self.buffered_ms < 100:
            msg = "Error committing input audio buffer: buffer too small. Expected at least 100ms"
            msg += f" of audio, but buffer only has {self.buffered_ms:.2f}ms of audio."
            raise RealtimeError("input_audio_buffer_commit_empty", msg)
        item_id, self._speech_item = self._speech_item or _id("item"), None
        self._vad.reset()
        await self._commit(item_id)

    async def _on_input_audio_buffer_clear(self, event: dict[str, Any]) -> None:
        self.buffered_ms, self._speech_item = 0.0, None
        self._vad.reset(drop_residual=True)
        await self._send("input_audio_buffer.cleared")

    # --- conversation items ----------------------------------------------------

    def _item(self, event: dict[str, Any], code: str) -> dict[str, Any]:
        item_id = event.get("item_id")
        if item_id not in self.items:
            raise RealtimeError(code, f"The item with id '{item_id}' does not exist.", "item_id")
        return self.items[item_id]

    async def _on_conversation_item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        rs.check_item(item)
        item_id = item.get("id") or _id("item")
        if item_id in self.items:
            raise RealtimeError("invalid_value", f"Item '{item_id}' already exists.", "item.id")
        after = event.get("previous_item_id")
        if after not in (None, "root") and after not in self.items:
            raise rs.invalid("previous_item_id", after, " No item has that id.")
        stored = {"object": "realtime.item", "status": "completed", **item, "id": item_id}
        prev = self._add_item(stored)  # the fake appends; position is not modelled
        if item["type"] == "function_call_output":
            self._record(self.function_outputs, stored)
        await self._send("conversation.item.added", previous_item_id=after or prev, item=stored)
        await self._send("conversation.item.done", previous_item_id=after or prev, item=stored)

    async def _on_conversation_item_retrieve(self, event: dict[str, Any]) -> None:
        item = self._item(event, "item_retrieve_invalid_item_id")
        await self._send("conversation.item.retrieved", item=_wire(item))

    async def _on_conversation_item_delete(self, event: dict[str, Any]) -> None:
        item = self._item(event, "item_delete_invalid_item_id")
        del self.items[item["id"]]
        await self._send("conversation.item.deleted", item_id=item["id"])

    async def _on_conversation_item_truncate(self, event: dict[str, Any]) -> None:
        item = self._item(event, "item_truncate_invalid_item_id")
        index, end = event.get("content_index"), event.get("audio_end_ms")
        if index != 0:
            raise rs.invalid("content_index", index)
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            raise rs.invalid("audio_end_ms", end)
        sent = item.get("audio_sent_ms")
        if not sent:
            msg = "Only model output audio messages can be truncated"
            raise RealtimeError("unsupported_content_type", msg, "item_id")
        if end > sent:
            msg = f"Audio content of {int(sent)}ms is already shorter than {end}ms"
            raise RealtimeError("invalid_value", msg, "audio_end_ms")
        item["truncated_at_ms"] = end
        record = {"item_id": item["id"], "content_index": 0, "audio_end_ms": end}
        self._record(self.truncations, record | {"audio_sent_ms": sent, "at": time.monotonic()})
        await self._send("conversation.item.truncated", **record)

    # --- responses -------------------------------------------------------------

    async def _on_response_create(self, event: dict[str, Any]) -> None:
        params = event.get("response", {})
        rs.check_response_params(params)
        if self.active is not None:
            msg = f"Conversation already has an active response in progress: {self.active.id}."
            msg += " Wait until the response is finished before creating a new one."
            raise RealtimeError("conversation_already_has_active_response", msg)
        self._start_response(params, "client")

    async def _on_response_cancel(self, event: dict[str, Any]) -> None:
        resp = self.active
        if resp is None or resp.finishing or event.get("response_id") not in (None, resp.id):
            msg = "Cancellation failed: no active response found"
            raise RealtimeError("response_cancel_not_active", msg)
        self.cancels += 1
        await self._stop_response("client_cancelled")

    def _start_response(self, params: dict[str, Any], trigger: str) -> None:
        resp = FakeResponse(id=_id("resp"), trigger=trigger, params=params)
        self.responses.append(resp)
        self.active = resp
        resp.task = asyncio.create_task(self._run_response(resp))

    async def _stop_response(self, reason: str) -> None:
        resp = self.active
        assert resp is not None and resp.task is not None
        resp.stop_reason = reason
        resp.wake.set()
        # Waiting keeps response.done ahead of whatever the client's next event causes.
        await resp.task

    def _modalities(self, resp: FakeResponse) -> list[str]:
        return resp.params.get("output_modalities") or self.session_config["output_modalities"]

    def _response_view(self, resp: FakeResponse) -> dict[str, Any]:
        out = self._audio_cfg("output")
        return {
            "object": "realtime.response", "id": resp.id, "status": resp.status,
            "status_details": resp.status_details, "output": [_wire(i) for i in resp.output],
            "conversation_id": "conv_fake", "output_modalities": self._modalities(resp),
            "max_output_tokens": "inf", "metadata": resp.params.get("metadata"),
            "audio": {"output": {"format": out["format"], "voice": out["voice"]}},
            "usage": None if resp.status == "in_progress" else rs.USAGE,
        }  # fmt: skip

    async def _run_response(self, resp: FakeResponse) -> None:
        try:
            await self._send("response.created", response=self._response_view(resp))
            await self._send("rate_limits.updated", rate_limits=rs.RATE_LIMITS)
            tool = self._tool_call_for(resp)
            if tool is not None:
                await self._stream_tool(resp, *tool)
            else:
                await self._stream_message(resp, self._modalities(resp) == ["text"])
            resp.status = "cancelled" if resp.stop_reason else "completed"
            if resp.stop_reason:
                resp.status_details = {"type": "cancelled", "reason": resp.stop_reason}
            self.active = None  # before response.done: a client reacting to it may create at once
            await self._send("response.done", response=self._response_view(resp))
        except (ConnectionClosed, _Dropped):
            resp.status = "disconnected"
        except Exception as exc:  # a bug in the fake must fail the test, not hang it
            self.server.failures.append(exc)
            resp.status = "disconnected"
            await self._ws.close(1011, "fake server error")
        finally:
            if self.active is resp:
                self.active = None

    def _tool_call_for(self, resp: FakeResponse) -> tuple[str, str] | None:
        planned = self.server.next_tool_call
        tools = resp.params.get("tools", self.session_config.get("tools")) or []
        names = {t.get("name") for t in tools if isinstance(t, dict)}
        choice = resp.params.get("tool_choice", self.session_config.get("tool_choice"))
        if planned is None or planned[0] not in names or choice == "none":
            return None  # a model never calls a tool it was not given
        self.server.next_tool_call = None
        return planned

    async def _pause(self, resp: FakeResponse, until: float) -> bool:
        """Sleep to an absolute deadline, waking at once on cancel; True if stopped."""
        delay = until - asyncio.get_running_loop().time()
        if delay > 0 and not resp.wake.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resp.wake.wait(), delay)
        return resp.stop_reason is not None

    async def _add_output(self, resp: FakeResponse, item: dict[str, Any]) -> None:
        prev = self._add_item(item)
        resp.output.append(item)
        added = {"response_id": resp.id, "output_index": 0, "item": _wire(item)}
        await self._send("response.output_item.added", **added)
        await self._send("conversation.item.added", previous_item_id=prev, item=_wire(item))

    async def _finish_output(self, resp: FakeResponse, item: dict[str, Any]) -> None:
        item["status"] = "incomplete" if resp.stop_reason else "completed"
        done = {"response_id": resp.id, "output_index": 0, "item": _wire(item)}
        await self._send("response.output_item.done", **done)
        prev = self._prev.get(item["id"])
        await self._send("conversation.item.done", previous_item_id=prev, item=_wire(item))

    def _due_times(self) -> tuple[float, float]:
        start = asyncio.get_running_loop().time() + self.server.latency_ms / 1000
        return start, CHUNK_MS / 1000 / self.server.speed

    async def _stream_message(self, resp: FakeResponse, text_only: bool) -> None:
        item: dict[str, Any] = {"id": _id("item"), "object": "realtime.item", "type": "message"}
        item |= {"status": "in_progress", "role": "assistant", "content": []}
        if not text_only:
            item["audio_sent_ms"] = 0.0
        await self._add_output(resp, item)
        ids = {"response_id": resp.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        part = {"type": "text", "text": ""} if text_only else {"type": "audio", "transcript": ""}
        await self._send("response.content_part.added", **ids, part=part)
        words, fmt = self.server.reply_text.split(), self._audio_cfg("output")["format"]["type"]
        rate, width = rs.FORMAT_RATES[fmt], rs.sample_width(fmt)
        chunks: list[bytes | None] = [None] * len(words)
        if not text_only:
            wire, step = self.server.reply_wire(fmt), rate * width * CHUNK_MS // 1000
            chunks = [wire[i : i + step] for i in range(0, len(wire), step)]
        text_kind = "text" if text_only else "audio_transcript"
        (due, interval), text = self._due_times(), ""
        for n, chunk in enumerate(chunks):
            if await self._pause(resp, due):
                break
            due += interval
            if chunk is not None:
                delta = base64.b64encode(chunk).decode()
                await self._send("response.output_audio.delta", **ids, delta=delta)
                item["audio_sent_ms"] += len(chunk) / width / rate * 1000
                self._assistant_audio = True
                resp.audio_deltas += 1
                await self._inject_faults(resp, ids)
            piece = " ".join(
                words[n * len(words) // len(chunks) : (n + 1) * len(words) // len(chunks)]
            )
            if piece:
                piece = f" {piece}" if text else piece
                text += piece
                await self._send(f"response.output_{text_kind}.delta", **ids, delta=piece)
        resp.finishing = True
        if text_only:
            await self._send("response.output_text.done", **ids, text=text)
            part, content = {"type": "text", "text": text}, {"type": "output_text", "text": text}
        else:
            await self._send("response.output_audio.done", **ids)
            await self._send("response.output_audio_transcript.done", **ids, transcript=text)
            part = {"type": "audio", "transcript": text}
            content = {"type": "output_audio", "transcript": text}
        await self._send("response.content_part.done", **ids, part=part)
        item["content"] = [content]
        await self._finish_output(resp, item)

    async def _inject_faults(self, resp: FakeResponse, ids: dict[str, Any]) -> None:
        drop = self.server.drop_after_deltas
        if drop is not None and resp.audio_deltas >= drop:
            self.server.drop_after_deltas = None
            self._ws.transport.abort()
            raise _Dropped
        if resp.audio_deltas == self.server.garbage_after_deltas:
            await self._ws.send("this is not JSON {")
            await self._send("response.fake_unknown_event", response_id=resp.id)
            await self._send("response.output_audio.delta", **ids, delta="%%not base64%%")
            await self._send("response.output_audio.delta", response_id=resp.id)

    async def _stream_tool(self, resp: FakeResponse, name: str, arguments: str) -> None:
        call_id = _id("call")
        item = {"id": _id("item"), "object": "realtime.item", "type": "function_call"}
        item |= {"status": "in_progress", "name": name, "call_id": call_id, "arguments": ""}
        await self._add_output(resp, item)
        ids = {"response_id": resp.id, "item_id": item["id"], "output_index": 0, "call_id": call_id}
        step = max(1, -(-len(arguments) // 3))
        due, interval = self._due_times()
        for i in range(0, len(arguments), step):
            if await self._pause(resp, due):
                break
            due += interval
            item["arguments"] += arguments[i : i + step]
            await self._send(
                "response.function_call_arguments.delta", **ids, delta=arguments[i : i + step]
            )
        resp.finishing = True
        args = item["arguments"]
        await self._send("response.function_call_arguments.done", **ids, name=name, arguments=args)
        await self._finish_output(resp, item)


class FakeRealtime:
    """The server: `await start()`, point the client at `url`, read `sessions`, `await stop()`.

    `speed` is the multiple of real time replies stream at, in 100 ms deltas, after
    `latency_ms` of real time; a reply is `reply_pcm24k` (24 kHz int16 LE) or else a
    `reply_ms` tone, converted to the session's output format, with `reply_text` as its
    transcript. The energy detector standing in for server VAD counts 20 ms blocks above
    `vad_threshold_dbfs`: `vad_start_ms` of them start speech, and the session's
    silence_duration_ms (else `vad_silence_ms`) of quiet ends it. `user_transcript` is what
    input transcription "hears", when the session asks for transcription.
    """

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        speed: float = 20.0,
        reply_ms: int = 3000,
        reply_pcm24k: bytes | None = None,
        reply_text: str = "Hello from the fake realtime model, speaking faster than real time.",
        latency_ms: float = 0.0,
        vad_threshold_dbfs: float = -35.0,
        vad_start_ms: int = 60,
        vad_silence_ms: int = 500,
        user_transcript: str = "caller speech",
        record_limit: int = 100_000,
    ) -> None:
        self.api_key, self.speed, self.latency_ms = api_key, speed, latency_ms
        self.reply_pcm24k = reply_pcm24k if reply_pcm24k is not None else rs.tone_pcm24k(reply_ms)
        self.reply_text, self.user_transcript = reply_text, user_transcript
        self.vad_threshold_dbfs, self.vad_start_ms = vad_threshold_dbfs, vad_start_ms
        self.vad_silence_ms, self.record_limit = vad_silence_ms, record_limit
        self.next_tool_call: tuple[str, str] | None = None
        self.drop_after_deltas: int | None = None
        self.garbage_after_deltas: int | None = None
        self.sessions: list[FakeSession] = []
        self.rejected: list[dict[str, Any]] = []  # refused handshakes: status, path, authorization
        self.failures: list[BaseException] = []  # bugs in the fake itself; stop() raises the first
        self.url = ""
        self._server: Server | None = None
        self._wire: dict[str, bytes] = {}

    def reply_wire(self, fmt: str) -> bytes:
        if fmt not in self._wire:
            self._wire[fmt] = rs.encode(fmt, self.reply_pcm24k)
        return self._wire[fmt]

    async def start(self) -> None:
        self._server = await serve(
            self._serve, "127.0.0.1", 0, process_request=self._check, max_size=16 * 2**20
        )
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}/v1/realtime"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.failures:
            raise RuntimeError("the fake Realtime server failed") from self.failures[0]

    async def __aenter__(self) -> FakeRealtime:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def session(self, index: int = 0, timeout: float = 5.0) -> FakeSession:
        """The index-th connection, waiting for it to arrive."""
        async with asyncio.timeout(timeout):
            while len(self.sessions) <= index:
                await asyncio.sleep(0.005)
        return self.sessions[index]

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        url, auth = urlsplit(request.path), request.headers.get("Authorization")
        if url.path != "/v1/realtime":
            status, code, message = HTTPStatus.NOT_FOUND, "not_found", f"Unknown path {url.path}."
        elif auth != f"Bearer {self.api_key}":
            status, code, message = (
                HTTPStatus.UNAUTHORIZED,
                "invalid_api_key",
                "Incorrect API key provided.",
            )
        elif not parse_qs(url.query).get("model"):
            status, code, message = (
                HTTPStatus.BAD_REQUEST,
                "missing_model",
                "Missing required parameter: 'model'.",
            )
        else:
            return None
        self.rejected.append({"status": int(status), "path": request.path, "authorization": auth})
        error = {"type": "invalid_request_error", "code": code, "message": message, "param": None}
        response = connection.respond(status, json.dumps({"error": error}) + "\n")
        del response.headers["Content-Type"]  # Headers.__setitem__ appends, it does not replace
        response.headers["Content-Type"] = "application/json"
        return response

    async def _serve(self, ws: ServerConnection) -> None:
        session = FakeSession(self, ws, parse_qs(urlsplit(ws.request.path).query)["model"][0])
        self.sessions.append(session)
        try:
            await session.run()
        except Exception as exc:
            self.failures.append(exc)
            raise
