"""Real-time pacing for a media track: absolute deadlines and a bounded cushion.

The output track's `recv()` asks the pacer when the next frame is due and what
to send then. Deadlines are absolute (start + n x frame), so sleeping late does
not drift the clock. The cushion in front of it is bounded in milliseconds:
when it is full the producer waits, which is the backpressure. Silence goes out
when the cushion is empty; a flush drops a turn's frames without touching the
clock or the timestamps.

A frame sent later than the receiver's jitter cushion after its deadline (the
event loop woke the track late) reaches the listener after its slot: the far
end ran dry even though the cushion had audio. The pacer counts those runs, so
a starved loop shows in the gateway's underruns as it does in the caller's ear.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from gateway.audio.frames import FRAME_MS, AudioChunk
from gateway.clock import Clock
from gateway.flow.confirmation import RanDry

_SILENCE_SENT = RanDry()
_SENT_LATE = RanDry(late=True)
"""Frozen, so one of each serves every frame of every call."""


@dataclass(frozen=True, slots=True)
class Emitted:
    at: float
    turn_id: int
    end_ms: int
    """Position in the turn once this frame has played."""


class Pacer:
    def __init__(
        self, clock: Clock, cushion_ms: int, history_ms: int = 2000, late_ms: int = 40
    ) -> None:
        if cushion_ms < FRAME_MS:
            raise ValueError(f"the cushion must hold at least one {FRAME_MS} ms frame")
        self.clock = clock
        self.cushion_ms = cushion_ms
        self._cushion: deque[AudioChunk] = deque(maxlen=cushion_ms // FRAME_MS)
        self._start: float | None = None
        self.frames_emitted = 0
        self.silent_frames = 0
        self._history: deque[Emitted] = deque(maxlen=history_ms // FRAME_MS)
        self.late_ms = late_ms
        self.late_frames = 0
        """Audio frames sent more than `late_ms` after their deadline."""
        self.late_runs = 0
        """Runs of consecutive late audio frames: each is one gap to the listener."""
        self.behind = False
        """Inside a run of late frames: audio went out late, and none since was on time."""
        self.gap_began = False
        """True after the emit that started a run of late audio frames."""
        self.dry: RanDry | None = None
        """What the last emit tells the call: the far end ran dry (silence, or the
        start of a late run), or None (audio on time, or the same gap going on)."""

    @property
    def buffered_ms(self) -> int:
        return len(self._cushion) * FRAME_MS

    def has_room(self) -> bool:
        return len(self._cushion) < (self._cushion.maxlen or 0)

    def push(self, chunk: AudioChunk) -> None:
        if not self.has_room():
            raise OverflowError("the cushion is full: the sender must wait for credit")
        self._cushion.append(chunk)

    def next_deadline(self) -> float:
        """When the next frame is due: now for the first, then every 20 ms after."""
        if self._start is None:
            self._start = self.clock.now()
        return self._start + self.frames_emitted * FRAME_MS / 1000

    def emit(self) -> AudioChunk | None:
        """The frame due now, or None for silence. Call at the deadline."""
        now = self.clock.now()
        late = (now - self.next_deadline()) * 1000 > self.late_ms
        self.frames_emitted += 1
        chunk = self._cushion.popleft() if self._cushion else None
        if chunk is None:
            self.silent_frames += 1
            # Silence after a late wake (the catch-up drained the cushion before
            # the producer could run) belongs to the same gap: `behind` stays.
            self.gap_began = False
            self.dry = None if self.behind else _SILENCE_SENT
        else:
            self._history.append(Emitted(now, chunk.turn_id, chunk.end_ms))
            self.gap_began = late and not self.behind
            self.late_frames += late
            self.late_runs += self.gap_began
            self.behind = late
            self.dry = _SENT_LATE if self.gap_began else None
        return chunk

    def flush(self, turn_id: int) -> int:
        """Drop the turn's frames from the cushion; returns milliseconds dropped."""
        kept = [c for c in self._cushion if c.turn_id != turn_id]
        dropped = (len(self._cushion) - len(kept)) * FRAME_MS
        self._cushion.clear()
        self._cushion.extend(kept)
        return dropped

    def heard_position(self, delay_s: float) -> tuple[int, int] | None:
        """(turn, position) the listener has heard, given the playout delay
        between emission and the listener's ear; None before any audio."""
        if not self._history:
            return None
        cutoff = self.clock.now() - delay_s
        last = None
        for emitted in reversed(self._history):
            if emitted.at <= cutoff:
                last = emitted
                break
        if last is None:
            first = self._history[0]
            return first.turn_id, max(0, first.end_ms - FRAME_MS)
        return last.turn_id, last.end_ms
