"""A speech-to-speech model's transcript of its own audio arrives as deltas
that carry their own spacing and may split a word ("Than", "ks for"). The call
records a turn's text as pieces joined by one space, so a voice hands it whole
words only: this holds the unfinished word of each turn until it is whole."""

from __future__ import annotations

MAX_PENDING_CHARS = 200
"""A "word" longer than this (a model spelling out a URL) is passed on as it is."""


class WordJoiner:
    def __init__(self) -> None:
        self._pending: dict[int, str] = {}

    def feed(self, turn_id: int, delta: str) -> str:
        """The whole words `delta` completes, spaced once; "" if none yet."""
        text = self._pending.pop(turn_id, "") + delta
        cut = max(text.rfind(" "), text.rfind("\n"), text.rfind("\t"))
        if cut < 0 and len(text) <= MAX_PENDING_CHARS:
            self._pending[turn_id] = text
            return ""
        if cut < 0:
            return text
        if len(text) - cut - 1 <= MAX_PENDING_CHARS:
            self._pending[turn_id] = text[cut + 1 :]
        else:
            cut = len(text)
        return " ".join(text[:cut].split())

    def flush(self, turn_id: int) -> str:
        """The turn's last word, at its end."""
        return " ".join(self._pending.pop(turn_id, "").split())

    def drop(self, turn_id: int) -> None:
        self._pending.pop(turn_id, None)
