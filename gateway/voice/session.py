"""The seam between a call and whatever listens and speaks for the agent.

A voice session serves one call. The call feeds it the caller's frames and
tells it when to reply and when a reply was interrupted; the session reports
what it hears and says through a `VoiceOutput`. Both the cascade (VAD -> STT
-> agent -> sentences -> TTS) and a speech-to-speech model fit this shape:
the cascade detects speech itself, a model may report its own detector's
events as well; the call takes whichever comes first.

Turn ids belong to the call: a reply is asked for with one, and everything
the session says for it carries that id, so audio of a turn that was
interrupted is stale wherever it is found.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.audio.caller_audio import CallerAudio

__all__ = ["CallerAudio"]  # the voices' view of caller audio lives with the audio


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    began_at: float
    """When the caller's speech began, on the call's clock (before detection)."""


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    at: float


@dataclass(frozen=True, slots=True)
class VoiceBegan:
    """The first voiced audio after quiet: maybe speech, maybe a backchannel.
    Reported within a detector window, long before `SpeechStarted`."""

    began_at: float


@dataclass(frozen=True, slots=True)
class VoiceEnded:
    """The voice that began has been quiet for the detector's fade time."""

    at: float


@dataclass(frozen=True, slots=True)
class VoiceLasted:
    """The voice since its onset reached the held length (the policy's minimum)."""

    voiced_ms: int


@dataclass(frozen=True, slots=True)
class Transcript:
    text: str
    final: bool = True


@dataclass(frozen=True, slots=True)
class Utterance:
    """The caller finished saying something the voice will answer.

    `text` is what the voice understood; None when the voice takes the
    caller's audio itself (a speech-to-speech model) and words are not known
    yet. An empty string means it heard sound but no words.
    """

    text: str | None
    ended_at: float


@dataclass(frozen=True, slots=True)
class ReplyText:
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class ReplyDone:
    turn_id: int
    failed: bool = False


@dataclass(frozen=True, slots=True)
class ToolCalled:
    turn_id: int
    name: str
    arguments: dict[str, Any]
    result: Any = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class VoiceFailed:
    """The voice cannot go on (its model connection broke and stayed broken)."""

    reason: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ProtectTurn:
    """The agent says the caller's speech may not cut this turn."""

    turn_id: int


@dataclass(frozen=True, slots=True)
class AgentTurn:
    """The agent has something to say that nobody asked for: give it a turn.
    `preempt`: the turn playing now may be cut for it."""

    preempt: bool = False


@dataclass(frozen=True, slots=True)
class EndWhenHeard:
    """The agent ended the call: end it once what it said has been heard.
    `interruptible`: a caller who talks over the goodbye cancels the end."""

    reason: str
    interruptible: bool = False


@dataclass(frozen=True, slots=True)
class TransferWhenHeard:
    """The agent hands the caller to `to` once `announcement` (spoken as a turn
    of its own), or else what it has said, has been heard."""

    to: str
    announcement: str = ""


VoiceEvent = (
    SpeechStarted
    | SpeechStopped
    | VoiceBegan
    | VoiceEnded
    | VoiceLasted
    | Transcript
    | Utterance
    | ReplyText
    | ReplyDone
    | ToolCalled
    | VoiceFailed
    | ProtectTurn
    | AgentTurn
    | EndWhenHeard
    | TransferWhenHeard
)


class VoiceOutput(Protocol):
    """What the call gives its voice session to report through."""

    def event(self, event: VoiceEvent) -> None:
        """Must not block: control events (speech started) never wait behind audio."""
        ...

    async def audio(self, turn_id: int, pcm: bytes, text: str = "", ulaw8k: bytes = b"") -> bool:
        """Agent audio of a turn, any length; waits while the call's bounded
        queue is full. False once the turn is no longer live: stop producing it."""
        ...


class VoiceSession(Protocol):
    name: str
    """Label for logs and metrics: "cascade", "openai-realtime"."""

    async def run(self, out: VoiceOutput) -> None:
        """Serve the call until cancelled. Returning or raising ends the voice:
        the call reports VoiceFailed and closes."""
        ...

    def feed(self, audio: CallerAudio) -> None:
        """Caller audio in real time. Must not block."""
        ...

    def reply(self, turn_id: int, greeting: str | None = None) -> None:
        """Start speaking turn `turn_id`: the greeting if given, else the answer
        to what the caller said."""
        ...

    def interrupt(self, turn_id: int, heard_ms: int, heard_text: str) -> bool:
        """The caller barged in: stop all work on the turn at once, and keep in
        the conversation only what was heard (`heard_ms` of the turn's audio).
        True if work on the turn was under way and is now cancelled."""
        ...

    def dtmf(self, digit: str) -> None:
        """The caller pressed a key."""
        ...

    async def aclose(self) -> None: ...
