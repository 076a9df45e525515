"""The caller's speech on its way to Gemini, sans-I/O: held until the call
decides what it is, then sent inside an activity, in order.

With automatic activity detection off, only audio between `activityStart` and
`activityEnd` is the caller's turn, so the order of those messages and the
audio is the whole protocol: every message here goes out through one ordered
lane. Held speech is sent in messages of up to a second, so a long question
is a few messages, not hundreds. The audio of the last activity is kept
(bounded) so that a socket replaced mid-activity can be told it again.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from gateway.audio.frames import FRAME_BYTES, FRAME_MS
from gateway.voice.gemini_protocol import IN_RATE, GeminiProtocol

SEND_AUDIO_MS = 40
"""Live audio inside an activity goes in 40 ms messages."""
HELD_MESSAGE_MS = 1_000
HELD_SPEECH_MS = 30_000
"""Speech waiting for the call's decision, and the last activity's copy; past
this the oldest goes."""


class CallerSpeech:
    def __init__(self) -> None:
        self.held: deque[bytes] = deque(maxlen=HELD_SPEECH_MS // FRAME_MS)
        """The caller's speech the model has not had, frame by frame."""
        self.activity: deque[bytes] = deque(maxlen=HELD_SPEECH_MS // FRAME_MS)
        """What the open (or last) activity carried, to tell a new socket again."""
        self.activity_open = False
        self.speaking = False
        self._pending = b""

    def take(self, pcm: bytes) -> list[dict[str, Any]]:
        """Caller audio: sent live inside an activity, held while speaking."""
        if self.activity_open:
            for i in range(0, len(pcm), FRAME_BYTES):
                self.activity.append(pcm[i : i + FRAME_BYTES])
            self._pending += pcm
            if len(self._pending) >= SEND_AUDIO_MS * IN_RATE * 2 // 1000:
                return [self._flush()]
            return []
        if self.speaking:
            for i in range(0, len(pcm), FRAME_BYTES):
                self.held.append(pcm[i : i + FRAME_BYTES])
        return []

    def start(self) -> list[dict[str, Any]]:
        """Open an activity with the speech held so far."""
        if self.activity_open:
            return []
        self.activity_open = True
        self.activity = deque(self.held, maxlen=self.activity.maxlen)
        self.held.clear()
        return [GeminiProtocol.activity_start(), *_chunks(self.activity)]

    def end(self) -> list[dict[str, Any]]:
        """Close the activity (opening it first with what is held)."""
        messages = self.start()
        if self._pending:
            messages.append(self._flush())
        self.activity_open = False
        return [*messages, GeminiProtocol.activity_end()]

    def replay(self, end: bool) -> list[dict[str, Any]]:
        """The last activity again, for a new socket; closed if `end`."""
        messages = [GeminiProtocol.activity_start(), *_chunks(self.activity)]
        return [*messages, GeminiProtocol.activity_end()] if end else messages

    def forget(self) -> None:
        """The speech held was a backchannel: the model never hears it."""
        self.held.clear()

    @property
    def has_speech(self) -> bool:
        return bool(self.held) or self.activity_open

    def _flush(self) -> dict[str, Any]:
        audio, self._pending = self._pending, b""
        return GeminiProtocol.audio(audio)


def _chunks(frames: deque[bytes]) -> list[dict[str, Any]]:
    per = HELD_MESSAGE_MS // FRAME_MS
    items = list(frames)
    return [GeminiProtocol.audio(b"".join(items[i : i + per])) for i in range(0, len(items), per)]
