"""OpenAI Realtime (GA) as a sans-I/O state machine: client events out, server
events in, and the bookkeeping a faithful barge-in needs.

What it tracks, and why:
- Which response is active (`response.created` to `response.done`), so a
  cancel is sent only while one is: a cancel with nothing active is an error.
- Which call turn each response speaks for: Sluice asks for every response
  (`create_response` is off), so responses arrive in the order requested.
- How much audio of each output item arrived, and where in its turn the item
  starts, so a truncate names exactly what the caller heard of that item and
  never more than the server sent: past that, the server answers "audio
  content of X ms is already shorter than Y ms".
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

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

PCMU = "audio/pcmu"
PCM = "audio/pcm"
PCM_RATE = 24_000
MAX_TRANSCRIPT_CHARS = 2_000


@dataclass(slots=True)
class _Item:
    item_id: str
    start_ms: int
    """Where the item's audio starts in its turn, as the call counts it:
    provisional when it arrives, exact once its first frame is cut (after the
    previous item's padded last one)."""
    framed: bool = False
    received_ms: float = 0.0
    """Audio the server sent for it."""


@dataclass(slots=True)
class _Turn:
    items: list[_Item] = field(default_factory=list)
    produced_ms: int = 0


def bytes_to_ms(fmt: str, n: int) -> float:
    return n / 8 if fmt == PCMU else n / (PCM_RATE * 2 / 1000)


class RealtimeProtocol:
    def __init__(self, audio_format: str) -> None:
        self.audio_format = audio_format
        self.active: str | None = None
        """The id of the response in progress."""
        # One response at a time: a second response.create while one is active
        # is refused by the server, so requests wait here for their turn.
        self._pending: deque[tuple[int, dict[str, Any]]] = deque(maxlen=8)
        self._asked: tuple[int, dict[str, Any]] | None = None
        """The turn whose response.create is out and not yet answered, and the event."""
        self._event_seq = 0
        self._withdrawn: set[int] = set()
        self._turn_of: dict[str, int] = {}
        self._turns: dict[int, _Turn] = {}
        self._silenced: dict[str, set[str]] = {}
        """Responses Sluice cancelled, and their items already truncated."""
        self.outbox: list[dict[str, Any]] = []
        """Client events that server events called for: send them next."""
        self.ignored_responses = 0

    def take_outbox(self) -> list[dict[str, Any]]:
        events, self.outbox = self.outbox, []
        return events

    # ---- client events -----------------------------------------------------

    def session_update(
        self,
        instructions: str,
        voice: str,
        tools: list[dict[str, Any]],
        transcribe_model: str = "",
        silence_ms: int = 500,
    ) -> dict[str, Any]:
        fmt: dict[str, Any] = (
            {"type": PCMU} if self.audio_format == PCMU else {"type": PCM, "rate": PCM_RATE}
        )
        audio_in: dict[str, Any] = {
            "format": fmt,
            # Sluice owns turn-taking: the server's detector reports speech,
            # but never cancels or starts a response by itself. Sluice does
            # both, at the moments its own playout knowledge says.
            "turn_detection": {
                "type": "server_vad",
                "silence_duration_ms": silence_ms,
                "create_response": False,
                "interrupt_response": False,
            },
        }
        if transcribe_model:
            audio_in["transcription"] = {"model": transcribe_model}
        session: dict[str, Any] = {
            "type": "realtime",
            "output_modalities": ["audio"],
            "instructions": instructions,
            "audio": {"input": audio_in, "output": {"format": dict(fmt), "voice": voice}},
        }
        if tools:
            session["tools"] = tools
            session["tool_choice"] = "auto"
        return {"type": "session.update", "session": session}

    def append(self, audio: bytes) -> dict[str, Any]:
        return {"type": "input_audio_buffer.append", "audio": base64.b64encode(audio).decode()}

    def create_response(
        self, turn_id: int, instructions: str | None = None
    ) -> dict[str, Any] | None:
        """The event to send now, or None: it waits for the active response to
        end and comes out of `take_outbox` then."""
        self._turns.setdefault(turn_id, _Turn())
        self._event_seq += 1
        # The id lets an error name the request it refuses.
        event: dict[str, Any] = {"type": "response.create", "event_id": f"sluice_{self._event_seq}"}
        if instructions:
            event["response"] = {"instructions": instructions}
        if self.active is None and self._asked is None:
            self._asked = (turn_id, event)
            return event
        self._pending.append((turn_id, event))
        return None

    def _next_request(self) -> None:
        if self.active is None and self._asked is None and self._pending:
            self._asked = self._pending.popleft()
            self.outbox.append(self._asked[1])

    def user_text(self, text: str) -> dict[str, Any]:
        item = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": text}],
        }
        return {"type": "conversation.item.create", "item": item}

    def tool_output(self, call_id: str, output: str) -> dict[str, Any]:
        item = {"type": "function_call_output", "call_id": call_id, "output": output}
        return {"type": "conversation.item.create", "item": item}

    def audio_framed(self, turn_id: int, frames_ms: int, item_id: str | None = None) -> None:
        """The session cut `frames_ms` of the turn's audio (of `item_id`) into the
        call's whole frames: the turn's next item starts after them."""
        turn = self._turns.get(turn_id)
        if turn is None:
            return
        item = self._item(turn, item_id) if item_id is not None else None
        if item is not None and not item.framed:
            item.start_ms, item.framed = turn.produced_ms, True
        turn.produced_ms += frames_ms

    def interrupt(self, turn_id: int, heard_ms: int) -> list[dict[str, Any]]:
        """Cancel the turn's response if it is still active, and truncate each
        of its items at what the caller heard of it: the item playing at
        `heard_ms` there, the ones after it at 0."""
        events: list[dict[str, Any]] = []
        kept = [(t, e) for t, e in self._pending if t != turn_id]
        self._pending.clear()
        self._pending.extend(kept)
        if self._asked is not None and self._asked[0] == turn_id:
            self._withdrawn.add(turn_id)  # its response is cancelled as soon as it exists
        active_turn = self._turn_of.get(self.active) if self.active else None
        turn = self._turns.get(turn_id)
        generating = False
        if self.active is not None and active_turn == turn_id and self.active not in self._silenced:
            generating = True
            self._silence(self.active, {i.item_id for i in turn.items} if turn else set())
            events.append({"type": "response.cancel", "response_id": self.active})
        turn = self._turns.pop(turn_id, None)
        items = turn.items if turn else []
        for item in items:
            sent = int(item.received_ms)
            if sent <= 0:
                continue  # no audio, nothing the server could truncate
            end = min(sent, max(0, heard_ms - item.start_ms))
            # While the response still generates, more of its last item may be
            # on the way: truncating it at what was heard keeps that out too.
            growing = generating and item is items[-1]
            if end >= sent and not growing:
                continue  # heard in full, and nothing more of it is coming
            events.append(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item.item_id,
                    "content_index": 0,
                    "audio_end_ms": end,
                }
            )
        return events

    # ---- server events -----------------------------------------------------

    def receive(self, message: str | bytes) -> list[ModelEvent]:
        try:
            event = json.loads(message)
        except (ValueError, UnicodeDecodeError, RecursionError) as exc:
            raise BadEvent("not JSON") from exc
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            raise BadEvent("an event without a type")
        try:
            return self._dispatch(event["type"], event)
        except (KeyError, TypeError, AttributeError) as exc:
            raise BadEvent(f"{event['type'][:60]} without {exc}") from exc

    def _dispatch(self, kind: str, e: dict[str, Any]) -> list[ModelEvent]:
        match kind:
            case "response.created":
                response_id = _str(e["response"]["id"])
                self.active = response_id
                asked, self._asked = self._asked, None
                turn_id = asked[0] if asked is not None else None
                if turn_id is None:
                    self.ignored_responses += 1  # not asked for: its audio goes nowhere
                elif turn_id in self._withdrawn:
                    # Asked for, then interrupted before it began: cancel it, and
                    # none of what it says was heard.
                    self._withdrawn.discard(turn_id)
                    self._silence(response_id, set())
                    self.outbox.append({"type": "response.cancel", "response_id": response_id})
                else:
                    self._turn_of[response_id] = turn_id
                self._forget_old_responses()
                return []
            case "response.output_audio.delta":
                response_id, item_id = _str(e["response_id"]), _str(e["item_id"])
                turn_id = self._turn_of.get(response_id)
                audio = _b64(e["delta"])
                if response_id in self._silenced:
                    self._truncate_unheard(response_id, item_id)
                    return []
                if turn_id is None or turn_id not in self._turns:
                    return []
                turn = self._turns[turn_id]
                item = self._item(turn, item_id) or self._new_item(turn, item_id)
                item.received_ms += bytes_to_ms(self.audio_format, len(audio))
                return [ModelAudio(turn_id, item_id, audio)]
            case "response.output_audio_transcript.delta":
                turn_id = self._turn_of.get(_str(e["response_id"]))
                if turn_id is None or turn_id not in self._turns:
                    return []
                return [ModelText(turn_id, _str(e["delta"])[:MAX_TRANSCRIPT_CHARS])]
            case "response.function_call_arguments.done":
                turn_id = self._turn_of.get(_str(e["response_id"]))
                if turn_id is None or turn_id not in self._turns:
                    return []
                call_id = _str(e["call_id"])
                return [ModelToolCall(turn_id, call_id, _str(e["name"]), _str(e["arguments"]))]
            case "response.done":
                response = e["response"]
                response_id = _str(response["id"])
                status = response.get("status")
                status = status if isinstance(status, str) else "unknown"
                if self.active == response_id:
                    self.active = None
                    self._next_request()
                turn_id = self._turn_of.get(response_id)
                if turn_id is None or turn_id not in self._turns:
                    return []
                outputs = response.get("output") or []
                wants_more = any(
                    isinstance(o, dict) and o.get("type") == "function_call" for o in outputs
                )
                return [ModelReplyDone(turn_id, status, wants_more)]
            case "input_audio_buffer.speech_started":
                return [ModelSpeechStarted()]
            case "input_audio_buffer.speech_stopped":
                return [ModelSpeechStopped()]
            case "input_audio_buffer.committed":
                return [ModelHeardCaller()]
            case "conversation.item.input_audio_transcription.completed":
                return [ModelTranscript(_str(e["transcript"])[:MAX_TRANSCRIPT_CHARS])]
            case "error":
                error = e["error"]
                code = _str(error.get("code") or "")
                events: list[ModelEvent] = [ModelError(code, _str(error.get("message", "")))]
                asked = self._asked
                if asked is None or error.get("event_id") not in (asked[1]["event_id"], None):
                    return events
                if code == "conversation_already_has_active_response":
                    # Refused, not lost: it goes again, as it was, when the active one ends.
                    self._pending.appendleft(asked)
                    self._asked = None
                elif error.get("event_id") == asked[1]["event_id"]:
                    # Refused for good: the turn fails instead of waiting forever.
                    self._asked = None
                    self._next_request()
                    if asked[0] not in self._withdrawn and asked[0] in self._turns:
                        events.append(ModelReplyDone(asked[0], "failed"))
                    self._withdrawn.discard(asked[0])
                return events
        return []  # the many events a bridge need not act on, and ones added later

    def _item(self, turn: _Turn, item_id: str) -> _Item | None:
        return next((i for i in turn.items if i.item_id == item_id), None)

    def _new_item(self, turn: _Turn, item_id: str) -> _Item:
        item = _Item(item_id, turn.produced_ms)
        turn.items.append(item)
        del turn.items[:-16]  # a turn of more than 16 spoken items keeps the last ones
        return item

    def _forget_old_responses(self) -> None:
        while len(self._turn_of) > 16:
            del self._turn_of[next(iter(self._turn_of))]
        while len(self._turns) > 8:
            del self._turns[next(iter(self._turns))]
        while len(self._silenced) > 8:
            del self._silenced[next(iter(self._silenced))]

    def _silence(self, response_id: str, truncated: set[str]) -> None:
        self._silenced[response_id] = truncated
        self._forget_old_responses()

    def _truncate_unheard(self, response_id: str, item_id: str) -> None:
        """An item of a cancelled response that was never played: its audio is
        not in the conversation the caller had."""
        done = self._silenced[response_id]
        if item_id not in done and len(done) < 64:
            done.add(item_id)
            self.outbox.append(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 0,
                }
            )

    def has_turn(self, turn_id: int) -> bool:
        return turn_id in self._turns

    def forget_turn(self, turn_id: int) -> None:
        """The turn was fully played: nothing of it will be truncated."""
        self._turns.pop(turn_id, None)


def _str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"a string, not {type(value).__name__}")
    return value


def _b64(value: Any) -> bytes:
    try:
        return base64.b64decode(_str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise TypeError("valid base64 audio") from exc
