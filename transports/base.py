"""The transport interface every adapter implements for the call."""

from __future__ import annotations

from typing import Protocol

from gateway.audio.frames import AudioChunk
from gateway.events import CallEvent
from gateway.flow.marks import Cleared, Mark


class Transport(Protocol):
    kind: str
    """Label for metrics and logs: "twilio", "websocket", "webrtc"."""

    async def send_audio(self, chunk: AudioChunk) -> None:
        """Write one frame of agent audio, converted to the wire format."""
        ...

    async def send_mark(self, mark: Mark) -> None:
        """Ask the far end to confirm when everything sent so far has played."""
        ...

    async def send_clear(self, cleared: Cleared) -> None:
        """Tell the far end to drop the audio it holds of `cleared.turn_id`."""
        ...

    def send_event(self, event: CallEvent) -> None:
        """Forward a call event, if the wire carries events. Must not block."""
        ...

    async def close(self, code: int, reason: str) -> None:
        """End the connection; safe to call more than once."""
        ...
