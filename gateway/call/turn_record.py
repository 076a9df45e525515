"""What one agent turn said, where in its audio each sentence lies."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SpokenSpan:
    start_ms: int
    end_ms: int
    text: str


@dataclass(slots=True)
class TurnRecord:
    turn_id: int
    started_at: float
    spans: list[SpokenSpan] = field(default_factory=list)
    produced_ms: int = 0
    finished: bool = False
    """Production is over: every sentence is synthesized and queued."""
    cancelled: bool = False
    first_sent_at: float | None = None
    user_ended_at: float | None = None
    """End of the caller's speech this turn answers; None for the greeting."""
    transcript: str = ""
    """The caller's words this turn answers, as recognised ("" for the greeting,
    or when the voice took the caller's audio itself)."""

    @property
    def text(self) -> str:
        return " ".join(span.text for span in self.spans if span.text)

    def add(self, text: str, duration_ms: int) -> SpokenSpan:
        span = SpokenSpan(self.produced_ms, self.produced_ms + duration_ms, text)
        self.spans.append(span)
        self.produced_ms += duration_ms
        return span

    def heard_text(self, position_ms: int) -> str:
        """The words the caller heard up to `position_ms`, cut at a word boundary."""
        words: list[str] = []
        for span in self.spans:
            if span.end_ms <= position_ms:
                words.append(span.text)
                continue
            if span.start_ms < position_ms:
                fraction = (position_ms - span.start_ms) / max(1, span.end_ms - span.start_ms)
                parts = span.text.split()
                words.append(" ".join(parts[: int(len(parts) * fraction)]))
            break
        return " ".join(w for w in words if w).strip()
