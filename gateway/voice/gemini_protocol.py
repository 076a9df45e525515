"""The Gemini Live API (BidiGenerateContent over WebSocket), sans-I/O.

What Sluice sends and the checked parse of what the server sends, as Google's
Live API reference documents them (https://ai.google.dev/api/live), with the
field names of the wire (camelCase). No sockets and no clock: the session in
gemini.py moves the bytes, this keeps the rules.

Gemini has no response ids. Each request for an answer (an `activityEnd`,
client content with `turnComplete`) yields one generation, in order, and
each generation ends with one `turnComplete`, after `interrupted` when it was
cut. This class keeps the requests in order, so the output that arrives is
attributed to the oldest one still open: the Sluice turn it answers, or
nothing for a generation Sluice cut. A generation that called a tool lasts
until the answer after the tool's response, whether or not the model sent a
`turnComplete` in between.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_REQUESTS = 16
"""Answers asked for and not yet complete; a call asks one at a time."""
IN_RATE = 16_000
"""Caller audio goes to the model as 16-bit PCM at 16 kHz: Sluice's own rate."""
OUT_RATE = 24_000
MAX_TEXT_CHARS = 4_000


class BadMessage(ValueError):
    """The server sent something that is not a Live API message Sluice knows."""


# ---- what the server says, parsed ------------------------------------------


@dataclass(frozen=True, slots=True)
class SetupComplete:
    pass


@dataclass(frozen=True, slots=True)
class ModelAudio:
    turn_id: int
    generation: int
    pcm24k: bytes


@dataclass(frozen=True, slots=True)
class ModelWords:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class CallerWords:
    text: str


@dataclass(frozen=True, slots=True)
class GenerationDone:
    turn_id: int
    status: str
    """"completed", or "interrupted" when the server cut it on its own."""


@dataclass(frozen=True, slots=True)
class ToolCall:
    turn_id: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolsCancelled:
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GoAway:
    time_left_s: float


@dataclass(frozen=True, slots=True)
class Resumable:
    handle: str


ServerEvent = (
    SetupComplete
    | ModelAudio
    | ModelWords
    | CallerWords
    | GenerationDone
    | ToolCall
    | ToolsCancelled
    | GoAway
    | Resumable
)


@dataclass(slots=True)
class _Request:
    turn_id: int
    cut: bool = False
    """Sluice cut its turn, or the server interrupted it: its output is dropped."""
    started: bool = False
    tools: set[str] = field(default_factory=set)
    """Tool calls made and not yet answered."""


class GeminiProtocol:
    def __init__(self) -> None:
        self._requests: deque[_Request] = deque(maxlen=MAX_REQUESTS)
        self.generation = 0
        self.handle = ""
        """The newest session-resumption handle the server gave."""

    @property
    def turn_id(self) -> int | None:
        """The Sluice turn the oldest open generation answers."""
        head = self._requests[0] if self._requests else None
        return head.turn_id if head is not None and not head.cut else None

    @property
    def generating(self) -> bool:
        return bool(self._requests) and self._requests[0].started

    @property
    def idle(self) -> bool:
        """No answer asked for is still to come."""
        return not self._requests

    # ---- client messages ----------------------------------------------------

    def setup(
        self,
        model: str,
        voice: str,
        instructions: str,
        tools: list[dict[str, Any]],
        resume: bool = False,
    ) -> dict[str, Any]:
        setup: dict[str, Any] = {
            "model": model if model.startswith("models/") else f"models/{model}",
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": voice}}},
            },
            "systemInstruction": {"parts": [{"text": instructions}]},
            # Sluice's detector owns turn-taking: the server's is off, and
            # activityStart/activityEnd say where the caller's speech is.
            "realtimeInputConfig": {
                "automaticActivityDetection": {"disabled": True},
                "activityHandling": "START_OF_ACTIVITY_INTERRUPTS",
                "turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY",
            },
            "outputAudioTranscription": {},
            "inputAudioTranscription": {},
            "sessionResumption": {"handle": self.handle} if resume and self.handle else {},
            # Without it an audio session ends at 15 minutes.
            "contextWindowCompression": {"slidingWindow": {}},
        }
        if tools:
            setup["tools"] = [{"functionDeclarations": [_declaration(t) for t in tools]}]
        return {"setup": setup}

    @staticmethod
    def audio(pcm16k: bytes) -> dict[str, Any]:
        data = base64.b64encode(pcm16k).decode("ascii")
        return {"realtimeInput": {"audio": {"data": data, "mimeType": f"audio/pcm;rate={IN_RATE}"}}}

    @staticmethod
    def activity_start() -> dict[str, Any]:
        return {"realtimeInput": {"activityStart": {}}}

    @staticmethod
    def activity_end() -> dict[str, Any]:
        return {"realtimeInput": {"activityEnd": {}}}

    @staticmethod
    def user_text(text: str, complete: bool = True) -> dict[str, Any]:
        turn = {"role": "user", "parts": [{"text": text}]}
        return {"clientContent": {"turns": [turn], "turnComplete": complete}}

    @staticmethod
    def tool_response(call_id: str, name: str, output: str) -> dict[str, Any]:
        try:
            result = json.loads(output)
        except ValueError:
            result = output
        response = result if isinstance(result, dict) else {"result": result}
        return {
            "toolResponse": {
                "functionResponses": [{"id": call_id, "name": name, "response": response}]
            }
        }

    # ---- turns ----------------------------------------------------------------

    def request(self, turn_id: int) -> None:
        """An answer was asked for (sent just now) for Sluice's turn `turn_id`."""
        self._requests.append(_Request(turn_id))

    def cut(self, turn_id: int) -> bool:
        """Sluice's turn `turn_id` was interrupted: what its generations still
        send is dropped. True if one was asked for and not yet complete."""
        running = False
        for request in self._requests:
            if request.turn_id == turn_id and not request.cut:
                request.cut = running = True
        return running

    def tool_answered(self, call_id: str) -> None:
        for request in self._requests:
            request.tools.discard(call_id)

    def abandon(self) -> list[int]:
        """The socket is gone: every answer still to come from it is lost.
        Returns the turns whose replies end with what already arrived."""
        turns = [r.turn_id for r in self._requests if not r.cut]
        self._requests.clear()
        self.generation += 1
        return turns

    def has_turn(self, turn_id: int) -> bool:
        return any(r.turn_id == turn_id and not r.cut for r in self._requests)

    # ---- server messages ------------------------------------------------------

    def receive(self, raw: str | bytes) -> list[ServerEvent]:
        try:
            message = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise BadMessage("not JSON") from None
        if not isinstance(message, dict):
            raise BadMessage("not a JSON object")
        events: list[ServerEvent] = []
        if "setupComplete" in message:
            events.append(SetupComplete())
        if "serverContent" in message:
            events += self._content(_object(message, "serverContent"))
        if "toolCall" in message:
            events += self._tool_call(_object(message, "toolCall"))
        if "toolCallCancellation" in message:
            ids = _object(message, "toolCallCancellation").get("ids", [])
            if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
                raise BadMessage("toolCallCancellation.ids must be strings")
            events.append(ToolsCancelled(tuple(ids)))
        if "goAway" in message:
            events.append(GoAway(_duration(_object(message, "goAway").get("timeLeft", "0s"))))
        if "sessionResumptionUpdate" in message:
            update = _object(message, "sessionResumptionUpdate")
            handle = update.get("newHandle")
            if update.get("resumable") and isinstance(handle, str) and handle:
                self.handle = handle
                events.append(Resumable(handle))
        known = {"setupComplete", "serverContent", "toolCall", "toolCallCancellation", "goAway",
                 "sessionResumptionUpdate", "usageMetadata"}  # fmt: skip
        if not events and not (set(message) & known):
            raise BadMessage(f"unknown message: {', '.join(list(message)[:3])[:80]}")
        return events

    def _content(self, content: dict[str, Any]) -> list[ServerEvent]:
        events: list[ServerEvent] = []
        head = self._requests[0] if self._requests else None
        live = head is not None and not head.cut
        turn = content.get("modelTurn")
        if turn is not None:
            parts = _object(content, "modelTurn").get("parts", [])
            if not isinstance(parts, list):
                raise BadMessage("modelTurn.parts must be a list")
            audio = [a for a in (_audio(part) for part in parts) if a]
            if head is not None:
                head.started = True
            if live and head is not None:
                events += [ModelAudio(head.turn_id, self.generation, a) for a in audio]
        words = content.get("outputTranscription")
        if isinstance(words, dict) and isinstance(words.get("text"), str):
            if live and head is not None:
                events.append(ModelWords(head.turn_id, words["text"][:MAX_TEXT_CHARS]))
        heard = content.get("inputTranscription")
        if isinstance(heard, dict) and isinstance(heard.get("text"), str) and heard["text"]:
            events.append(CallerWords(heard["text"][:MAX_TEXT_CHARS]))
        if content.get("interrupted") and head is not None:
            if not head.cut:  # the server cut it on its own: the turn ends here
                events.append(GenerationDone(head.turn_id, "interrupted"))
            head.cut = True
            head.tools.clear()
        if content.get("turnComplete") and head is not None:
            if head.tools:
                return events  # a tool is running: its answer comes in this turn
            self._requests.popleft()
            self.generation += 1
            if not head.cut:
                events.append(GenerationDone(head.turn_id, "completed"))
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[ServerEvent]:
        calls = call.get("functionCalls", [])
        if not isinstance(calls, list):
            raise BadMessage("toolCall.functionCalls must be a list")
        head = self._requests[0] if self._requests else None
        if head is None or head.cut:
            return []  # a cut generation's tools are not run
        events: list[ServerEvent] = []
        for fc in calls:
            if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
                raise BadMessage("a function call needs a name")
            call_id = str(fc.get("id", ""))
            head.tools.add(call_id)
            events.append(
                ToolCall(head.turn_id, call_id, fc["name"], json.dumps(fc.get("args", {})))
            )
        return events


def _object(message: dict[str, Any], key: str) -> dict[str, Any]:
    value = message.get(key)
    if not isinstance(value, dict):
        raise BadMessage(f"'{key}' must be an object")
    return value


def _audio(part: Any) -> bytes:
    if not isinstance(part, dict):
        raise BadMessage("a part must be an object")
    inline = part.get("inlineData")
    if inline is None:
        return b""  # text or thought parts: the transcript carries the words
    if not isinstance(inline, dict) or not isinstance(inline.get("data"), str):
        raise BadMessage("inlineData needs base64 data")
    mime = inline.get("mimeType", "")
    if not (isinstance(mime, str) and mime.startswith("audio/pcm")):
        raise BadMessage(f"unexpected inlineData {str(mime)[:40]}")
    if "rate=" in mime and f"rate={OUT_RATE}" not in mime:
        raise BadMessage(f"model audio at an unexpected rate: {mime[:40]}")
    try:
        audio = base64.b64decode(inline["data"], validate=True)
    except (binascii.Error, ValueError):
        raise BadMessage("inlineData is not base64") from None
    return audio[: len(audio) - len(audio) % 2]


def _duration(value: Any) -> float:
    """A protobuf Duration as JSON: "12.5s"."""
    if isinstance(value, str) and value.endswith("s"):
        try:
            return max(0.0, float(value[:-1]))
        except ValueError:
            pass
    raise BadMessage('goAway.timeLeft must be a duration such as "10s"')


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped function declaration as Gemini's functionDeclaration."""
    return {
        "name": tool["name"],
        "description": tool.get("description", ""),
        "parameters": tool.get("parameters", {"type": "object", "properties": {}}),
    }
