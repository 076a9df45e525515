"""The Gemini Live API (BidiGenerateContent over WebSocket), sans-I/O.

What Sluice sends and the checked parse of what the server sends, as Google's
Live API reference documents them (https://ai.google.dev/api/live), with the
field names of the wire (camelCase). No sockets and no clock: the session in
gemini.py moves the bytes, this keeps the rules.

Gemini has no response ids. Model output belongs to the one generation in
progress, and a generation ends with `turnComplete` (or `interrupted`, when
an `activityStart` or client content cut it). This class tells which Sluice
turn that generation answers, and drops the rest of a generation Sluice cut.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

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


class GeminiProtocol:
    def __init__(self) -> None:
        self.turn_id: int | None = None
        """The Sluice turn the generation in progress answers."""
        self.generating = False
        self.generation = 0
        self._discarding = False
        """The rest of a generation Sluice cut: dropped until it ends."""
        self.handle = ""
        """The newest session-resumption handle the server gave."""

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

    def answer_with(self, turn_id: int) -> None:
        """The next generation (or the one already under way, not yet
        claimed) answers Sluice's turn `turn_id`."""
        self.turn_id = turn_id

    def cut(self, turn_id: int) -> bool:
        """Sluice's turn `turn_id` was interrupted. True if its generation was
        still running: the caller's activityStart stops it, and what it still
        sends is dropped here."""
        if self.turn_id != turn_id:
            return False
        self.turn_id = None
        if self.generating:
            self._discarding = True
            return True
        return False

    def abandon(self) -> int | None:
        """The socket carrying a generation is gone: forget it. Returns the
        turn it was answering, whose reply ends with what already arrived."""
        turn_id = self.turn_id if self.generating and not self._discarding else None
        if self.generating:
            self.turn_id = None
        self.generating = self._discarding = False
        self.generation += 1
        return turn_id

    def has_turn(self, turn_id: int) -> bool:
        return self.turn_id == turn_id

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
        turn = content.get("modelTurn")
        if turn is not None:
            parts = _object(content, "modelTurn").get("parts", [])
            if not isinstance(parts, list):
                raise BadMessage("modelTurn.parts must be a list")
            self.generating = True
            for part in parts:
                audio = _audio(part)
                if audio and not self._discarding and self.turn_id is not None:
                    events.append(ModelAudio(self.turn_id, self.generation, audio))
        words = content.get("outputTranscription")
        if isinstance(words, dict) and isinstance(words.get("text"), str):
            if not self._discarding and self.turn_id is not None:
                events.append(ModelWords(self.turn_id, words["text"][:MAX_TEXT_CHARS]))
        heard = content.get("inputTranscription")
        if isinstance(heard, dict) and isinstance(heard.get("text"), str) and heard["text"]:
            events.append(CallerWords(heard["text"][:MAX_TEXT_CHARS]))
        if content.get("interrupted") or content.get("turnComplete"):
            status = "interrupted" if content.get("interrupted") else "completed"
            if not self._discarding and self.turn_id is not None:
                events.append(GenerationDone(self.turn_id, status))
                self.turn_id = None
            self._discarding = False
            self.generating = False
            self.generation += 1
        return events

    def _tool_call(self, call: dict[str, Any]) -> list[ServerEvent]:
        calls = call.get("functionCalls", [])
        if not isinstance(calls, list):
            raise BadMessage("toolCall.functionCalls must be a list")
        if self._discarding or self.turn_id is None:
            return []  # a cut generation's tools are not run
        events: list[ServerEvent] = []
        for fc in calls:
            if not isinstance(fc, dict) or not isinstance(fc.get("name"), str):
                raise BadMessage("a function call needs a name")
            args = fc.get("args", {})
            events.append(
                ToolCall(self.turn_id, str(fc.get("id", "")), fc["name"], json.dumps(args))
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
    raise BadMessage("goAway.timeLeft must be a duration such as \"10s\"")


def _declaration(tool: dict[str, Any]) -> dict[str, Any]:
    """An OpenAI-shaped function declaration as Gemini's functionDeclaration."""
    return {
        "name": tool["name"],
        "description": tool.get("description", ""),
        "parameters": tool.get("parameters", {"type": "object", "properties": {}}),
    }
