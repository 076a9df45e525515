"""What the OpenAI Realtime server says, as the bridge needs it: one small
type per event it acts on (see realtime_protocol.py for how they arise)."""

from __future__ import annotations

from dataclasses import dataclass


class BadEvent(ValueError):
    """A server event that is not JSON, or lacks what its type requires."""


@dataclass(frozen=True, slots=True)
class ModelAudio:
    turn_id: int
    item_id: str
    audio: bytes
    """In the session's output format."""


@dataclass(frozen=True, slots=True)
class ModelText:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ModelSpeechStarted:
    pass


@dataclass(frozen=True, slots=True)
class ModelSpeechStopped:
    pass


@dataclass(frozen=True, slots=True)
class ModelHeardCaller:
    """The server committed the caller's turn: it will answer when asked."""


@dataclass(frozen=True, slots=True)
class ModelTranscript:
    text: str


@dataclass(frozen=True, slots=True)
class ModelToolCall:
    turn_id: int
    call_id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ModelReplyDone:
    turn_id: int
    status: str
    """completed, cancelled, failed, incomplete."""
    wants_more: bool = False
    """It ended in tool calls: their outputs go back and a new response follows."""


@dataclass(frozen=True, slots=True)
class ModelError:
    code: str
    message: str


ModelEvent = (
    ModelAudio
    | ModelText
    | ModelSpeechStarted
    | ModelSpeechStopped
    | ModelHeardCaller
    | ModelTranscript
    | ModelToolCall
    | ModelReplyDone
    | ModelError
)
