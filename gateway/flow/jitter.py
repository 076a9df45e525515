"""An inbound audio jitter buffer for speech *recognition*, not playout.

The VAD and STT want the caller's frames in order and as early as possible;
smooth timing does not matter to them. So in-order frames leave at once, a gap
waits only for as many later frames as reordering has recently needed, and a
frame given up on is skipped: the buffer never keeps a standing backlog.

aiortc's own audio buffer holds every frame until four more follow it (80 ms on
every barge-in) and after one lost packet stays about 14 frames deep for good
(aiortc issue 543). This replaces it on the gateway's receive path.
"""

from __future__ import annotations

from dataclasses import dataclass


def _seq_diff(a: int, b: int) -> int:
    """a - b in 16-bit sequence space, in [-32768, 32767]."""
    return (a - b + 0x8000) % 0x10000 - 0x8000


@dataclass(frozen=True, slots=True)
class Released:
    sequence: int
    payload: bytes


class AudioJitterBuffer:
    MAX_HELD = 50
    """Frames held behind a gap at most (1 s); past that the gap is skipped."""

    def __init__(self, min_wait: int = 1, max_wait: int = 5, calm_packets: int = 250) -> None:
        self.min_wait = min_wait
        self.max_wait = max_wait
        self.calm_packets = calm_packets
        self.wait = min_wait
        """Later frames a gap waits for before it is declared lost."""
        self._next: int | None = None
        self._held: dict[int, bytes] = {}
        self._since_late = 0
        self.lost = 0
        self.late = 0
        self.duplicates = 0

    @property
    def held(self) -> int:
        return len(self._held)

    def add(self, sequence: int, payload: bytes) -> list[Released]:
        """One packet in; every frame now ready out, in order."""
        if self._next is None:
            self._next = sequence
        ahead = _seq_diff(sequence, self._next)
        if ahead < 0:
            # Arrived after we gave up on it: reordering is deeper than we waited.
            self.late += 1
            self.wait = min(self.max_wait, self.wait + 1)
            self._since_late = 0
            return []
        if sequence in self._held:
            self.duplicates += 1
            return []
        self._held[sequence] = payload
        self._since_late += 1
        if self._since_late >= self.calm_packets and self.wait > self.min_wait:
            self.wait -= 1
            self._since_late = 0
        return self._release()

    def _release(self) -> list[Released]:
        out: list[Released] = []
        assert self._next is not None
        while self._held:
            payload = self._held.pop(self._next, None)
            if payload is not None:
                out.append(Released(self._next, payload))
                self._next = (self._next + 1) & 0xFFFF
                continue
            if len(self._held) <= self.wait and len(self._held) < self.MAX_HELD:
                break  # the gap may still be filled
            # Give up on the missing frame (or the run of them) and carry on.
            nearest = min(self._held, key=lambda s: _seq_diff(s, self._next))
            self.lost += _seq_diff(nearest, self._next)
            self._next = nearest
        return out
