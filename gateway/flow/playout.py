"""What the outbound pump needs from a transport's flow control.

Two implementations: `MarkTracker` (Twilio: marks echoed after playout) and
`GrantTracker` (browser WebSocket: grants and played acks). How confirmations
arrive differs per wire; each arrives as one `Confirmation` (see
confirmation.py) that the flow interprets.
"""

from __future__ import annotations

from typing import Protocol

from gateway.audio.frames import AudioChunk
from gateway.flow.confirmation import Cleared, Confirmation, Confirmed, Mark
from gateway.flow.credit import CreditWindow


class PlayoutFlow(Protocol):
    window: CreditWindow

    def needs_flush_before(self, turn_id: int) -> bool: ...

    def on_sent(self, chunk: AudioChunk) -> Mark | None: ...

    def flush(self) -> Mark | None: ...

    def until_mark_ms(self) -> int:
        """Audio that may still be sent before the next mark falls due: a
        message never straddles a mark, so marks keep their meaning."""
        ...

    def confirmed_ms(self, turn_id: int) -> int: ...

    def position_ms(self, turn_id: int) -> int: ...

    def confirm(self, confirmation: Confirmation) -> Confirmed: ...

    def dry_at(self, turn_id: int) -> float | None:
        """When the far end runs out of the turn's audio sent so far (clock time)."""
        ...

    def clear(self, turn_id: int) -> Cleared: ...

    def rewind(self, turn_id: int, from_ms: int) -> None: ...
