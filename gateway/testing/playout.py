"""What a synthetic client played, on one clock: the listener's side of every metric."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Received:
    """Audio as it arrived; `turn` is filled in when the mark after it arrives."""

    turn: int | None = None


@dataclass(slots=True)
class PlayedFrame:
    at: float
    """Instant the frame started playing."""
    ms: int
    source: Received | None
    """None for silence: nothing was buffered."""

    @property
    def turn(self) -> int | None:
        return self.source.turn if self.source is not None else None


@dataclass
class PlayoutLog:
    frames: list[PlayedFrame] = field(default_factory=list)
    buffer_ms: list[tuple[float, float]] = field(default_factory=list)
    limit: int = 180_000
    """Frames kept: an hour of 20 ms frames; a test client must be bounded too."""

    def add(self, frame: PlayedFrame, buffered_ms: float) -> None:
        if len(self.frames) < self.limit:
            self.frames.append(frame)
            self.buffer_ms.append((frame.at, buffered_ms))

    @property
    def peak_buffer_ms(self) -> float:
        return max((b for _, b in self.buffer_ms), default=0.0)

    def played_ms(self, turn: int, after: float = float("-inf")) -> int:
        """Milliseconds of the turn whose playout started at or after `after`."""
        return sum(f.ms for f in self.frames if f.turn == turn and f.at + f.ms / 1000 > after)

    def stale_ms(self, turn: int, interrupt_at: float, until: float = float("inf")) -> float:
        """Milliseconds of the turn played after the interrupt instant (partial frames
        count), up to `until` (where a wire without turn ids starts the next reply)."""
        total = 0.0
        for f in self.frames:
            if f.turn == turn and f.at < until:
                end = f.at + f.ms / 1000
                if end > interrupt_at:
                    total += (end - max(f.at, interrupt_at)) * 1000
        return total

    def played_before(self, turn: int, instant: float) -> float:
        """Milliseconds of the turn played before `instant` (partial frames count)."""
        total = 0.0
        for f in self.frames:
            if f.turn == turn and f.at < instant:
                total += (min(f.at + f.ms / 1000, instant) - f.at) * 1000
        return total

    def first_played(self, turn: int) -> float | None:
        return next((f.at for f in self.frames if f.turn == turn), None)

    def last_played_end(self, turn: int) -> float | None:
        ends = [f.at + f.ms / 1000 for f in self.frames if f.turn == turn]
        return max(ends) if ends else None

    def span_s(self, turn: int) -> float:
        """From the turn's first frame played to the end of its last: how long
        hearing it took, its pauses included."""
        first, last = self.first_played(turn), self.last_played_end(turn)
        return 0.0 if first is None or last is None else last - first

    def underruns(self, turn: int | None = None) -> tuple[int, int]:
        """Gaps inside a turn: silence between two frames of the same turn. (count, ms)"""
        count = total = 0
        last_turn: int | None = None
        gap = 0
        for f in self.frames:
            if f.source is None:
                if last_turn is not None:
                    gap += f.ms
                continue
            if gap and f.turn == last_turn and (turn is None or f.turn == turn):
                count += 1
                total += gap
            gap = 0
            last_turn = f.turn
        return count, total

    def gaps(self, turn: int) -> list[tuple[float, int]]:
        """Silences between two frames of the turn: (when it began, ms)."""
        found: list[tuple[float, int]] = []
        began: float | None = None
        gap = 0
        seen = False
        for f in self.frames:
            if f.source is None:
                if seen:
                    began = f.at if began is None else began
                    gap += f.ms
                continue
            if f.turn == turn:
                if gap and began is not None:
                    found.append((began, gap))
                seen = True
            elif seen:
                break  # another turn began: this one is over
            began, gap = None, 0
        return found

    def talk_over(self, turn: int, onset: float, until: float, quiet_s: float = 0.12) -> float:
        """Seconds the caller heard the turn after their own `onset`: up to the
        end of its last frame before it went quiet for `quiet_s` (longer than a
        pause between words), and at most to `until` (the caller's sound ended)."""
        last_end = onset
        quiet_since: float | None = None
        for f in self.frames:
            end = f.at + f.ms / 1000
            if end <= onset:
                continue
            if f.at >= until:
                break
            if f.turn == turn:
                last_end, quiet_since = end, None
            else:
                quiet_since = f.at if quiet_since is None else quiet_since
                if end - quiet_since >= quiet_s:
                    break
        return max(0.0, last_end - onset)

    def heard_until(self, turn: int, instant: float) -> float | None:
        """When the run of the turn's frames that was playing at `instant` ended
        (the caller stopped hearing the agent); None if none was playing."""
        end: float | None = None
        for f in self.frames:
            if f.at + f.ms / 1000 <= instant:
                continue
            if f.turn != turn:
                break
            end = f.at + f.ms / 1000
        return end

    def turns(self) -> list[int]:
        seen: list[int] = []
        for f in self.frames:
            if f.turn is not None and f.turn not in seen:
                seen.append(f.turn)
        return seen


@dataclass(frozen=True)
class Listener:
    """How the far end plays: in real time, slower than real time, or stalling."""

    rate: float = 1.0
    stall_after_s: float | None = None

    @classmethod
    def named(cls, name: str) -> Listener:
        return {
            "realtime": cls(),
            "slow": cls(rate=0.9),
            "stalled": cls(stall_after_s=2.0),
        }[name]

    @property
    def tick_s(self) -> float:
        return 0.020 / self.rate

    def stalled(self, elapsed_s: float) -> bool:
        return self.stall_after_s is not None and elapsed_s >= self.stall_after_s
