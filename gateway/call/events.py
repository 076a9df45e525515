"""What a call reports as it runs; an adapter may forward these to its client."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True, slots=True)
class CallEvent:
    def to_dict(self) -> dict:
        return {"type": self.type, **asdict(self)}

    @property
    def type(self) -> str:
        return _TYPE_NAMES[type(self)]


@dataclass(frozen=True, slots=True)
class Transcript(CallEvent):
    text: str
    final: bool = True


@dataclass(frozen=True, slots=True)
class AgentText(CallEvent):
    turn_id: int
    text: str


@dataclass(frozen=True, slots=True)
class StateChanged(CallEvent):
    state: str
    turn_id: int


@dataclass(frozen=True, slots=True)
class PlayoutPosition(CallEvent):
    turn_id: int
    position_ms: int


@dataclass(frozen=True, slots=True)
class Interrupted(CallEvent):
    turn_id: int
    heard_ms: int
    heard_text: str
    dropped_ms: int


@dataclass(frozen=True, slots=True)
class Paused(CallEvent):
    """The caller's voice paused the turn; it resumes unless the voice confirms."""

    turn_id: int
    heard_ms: int


@dataclass(frozen=True, slots=True)
class Resumed(CallEvent):
    """The voice did not confirm (a backchannel): the turn goes on from `from_ms`."""

    turn_id: int
    from_ms: int
    paused_ms: int


@dataclass(frozen=True, slots=True)
class Dtmf(CallEvent):
    digit: str


@dataclass(frozen=True, slots=True)
class ToolCall(CallEvent):
    turn_id: int
    name: str
    arguments: dict
    result: object = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CallControl(CallEvent):
    """A hang-up or transfer the agent asked for: `waiting` for its last words
    to be heard, `cancelled` by the caller's barge-in, `done` or `failed`."""

    action: str
    state: str
    target: str = ""


@dataclass(frozen=True, slots=True)
class CallEnded(CallEvent):
    reason: str
    detail: dict = field(default_factory=dict)


_TYPE_NAMES: dict[type, str] = {
    Transcript: "transcript",
    AgentText: "agent_text",
    StateChanged: "state",
    PlayoutPosition: "playout",
    Interrupted: "interrupted",
    Paused: "paused",
    Resumed: "resumed",
    Dtmf: "dtmf",
    ToolCall: "tool_call",
    CallControl: "call_control",
    CallEnded: "call_ended",
}
