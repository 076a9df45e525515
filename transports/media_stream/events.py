"""The few things any carrier's stream says, whatever its messages look like,
and what a carrier's sans-I/O dialect must do to say them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from gateway.audio.wire_format import WireFormat


@dataclass(frozen=True, slots=True)
class Started:
    """The stream is ready: who it claims to be and what audio it carries."""

    call_id: str
    """The carrier's id of the call, the one its answer request named."""
    stream_id: str
    wire: WireFormat
    token: str | None = None
    """What the stream presented to prove its answer request was ours."""
    parameters: dict[str, str] = field(default_factory=dict)
    frame_bytes: int = 0
    """The far end's own frame, if it names one (Asterisk's optimal_frame_size)."""


@dataclass(frozen=True, slots=True)
class Audio:
    payload: bytes


@dataclass(frozen=True, slots=True)
class Played:
    """The far end played everything before the named point (mark, checkpoint, notify)."""

    name: str


@dataclass(frozen=True, slots=True)
class Digit:
    digit: str


@dataclass(frozen=True, slots=True)
class Stopped:
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Watermark:
    """The far end's queue crossed its high (`full`) or low watermark (Asterisk XOFF/XON)."""

    full: bool


@dataclass(frozen=True, slots=True)
class Noted:
    """Harmless news: `connected`, a clear's acknowledgement, a status report."""

    what: str


StreamEvent = Started | Audio | Played | Digit | Stopped | Watermark | Noted
Outgoing = str | bytes
"""A text or binary WebSocket message."""


@dataclass(frozen=True, slots=True)
class Chunking:
    """What sizes of agent audio a carrier accepts in one message, in wire bytes."""

    least: int = 0
    """Hold audio until this much (Exotel: 3.2 KB); a mark sends what is held."""
    most: int = 64_000
    multiple: int = 1
    """Pad a short message to a multiple of this (Exotel: 320 bytes) with silence."""
    exact: int = 0
    """Every message exactly this (Vonage: one 20 ms frame)."""

    def mark_interval_ms(self, configured_ms: int, wire: WireFormat) -> int:
        """The mark spacing, rounded up to a whole number of least-sized
        messages, so that every mark follows a whole one."""
        if not self.least:
            return configured_ms
        step = -(-self.least // wire.frame_bytes) * 20
        return -(-configured_ms // step) * step


class Dialect(Protocol):
    """One carrier's messages, parsed and built without I/O; one instance per stream."""

    def parse(self, message: Outgoing) -> StreamEvent:
        """One WebSocket message to an event; raises ProtocolError with a kind."""
        ...

    def media(self, payload: bytes) -> Outgoing: ...

    def mark(self, name: str) -> Outgoing: ...

    def clear(self) -> Outgoing: ...
