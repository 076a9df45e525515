"""What the call needs from a wire: the `Transport` protocol every adapter
implements. Adapters reach it through the seam, `gateway.wire`."""

from __future__ import annotations

from typing import Protocol

from gateway.audio.frames import AudioChunk
from gateway.call.events import CallEvent
from gateway.flow.confirmation import Cleared, Mark


class Transport(Protocol):
    kind: str
    """Label for metrics and logs: "twilio", "websocket", "webrtc"."""
    native_audio: str
    """The wire's own codec, if a voice could produce it directly: "pcmu"
    (G.711 μ-law, 8 kHz) or "" for PCM at the internal rate."""
    paced: bool
    """The gateway paces the wire itself and reports `RanDry` when the far end
    has nothing to play (WebRTC); otherwise the far end's confirmations say it."""
    batch_ms: int
    """Most audio one `send_audio` may carry: contiguous frames of one turn the
    pump has ready and credit for go out as one message. FRAME_MS (one frame)
    on a paced wire, whose pacer takes a frame at a time."""

    async def send_audio(self, chunk: AudioChunk) -> None:
        """Write agent audio (one frame, or up to `batch_ms` of them), converted
        to the wire format."""
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
