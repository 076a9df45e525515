"""Split a stream of agent text into sentences for TTS, one at a time."""

from __future__ import annotations

import re

_END = re.compile(r"[.!?;:](?:[\"')\]]*)\s+")
_SOFT_BREAK = re.compile(r"[,\u2014-]\s+")


class SentenceSplitter:
    """Feed text deltas, get whole sentences back.

    A sentence longer than `max_chars` is cut at its last comma (or space)
    before the limit, so one run-on reply never holds up the first audio.
    """

    def __init__(self, max_chars: int = 240, min_chars: int = 12) -> None:
        self.max_chars = max_chars
        self.min_chars = min_chars
        self._buffer = ""

    def feed(self, text: str) -> list[str]:
        self._buffer += text
        out: list[str] = []
        while True:
            cut = self._next_cut()
            if cut is None:
                break
            sentence, self._buffer = self._buffer[:cut].strip(), self._buffer[cut:]
            if sentence:
                out.append(sentence)
        return out

    def flush(self) -> list[str]:
        rest, self._buffer = self._buffer.strip(), ""
        return [rest] if rest else []

    def _next_cut(self) -> int | None:
        for match in _END.finditer(self._buffer):
            if match.end() >= self.min_chars:
                if match.end() <= self.max_chars:
                    return match.end()
                break
        if len(self._buffer) <= self.max_chars:
            return None
        head = self._buffer[: self.max_chars]
        soft = [m.end() for m in _SOFT_BREAK.finditer(head)]
        if soft:
            return soft[-1]
        space = head.rfind(" ")
        return space + 1 if space > 0 else self.max_chars
