"""A speech-to-speech model's audio on its way to the call: cut into the call's
frames, and held, bounded in milliseconds, until the call's queue has room.

The model sends audio far faster than real time, in deltas of any length.
`Framer` cuts it into whole 20 ms frames (an item's last partial frame padded,
so every item starts on a frame boundary and its position in the turn is
exact). `HeldAudio` holds at most `limit_ms` of frames; `put` waits while it
is full, which is how a reader stops reading the model. Words and the end of a
reply travel in the same line as markers, so they reach the call when the
audio around them does.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from gateway.audio.frames import (
    FRAME_BYTES,
    FRAME_MS,
    INTERNAL_RATE,
    ULAW_FRAME_BYTES,
    ULAW_SILENCE,
)
from gateway.audio.resample import StreamResampler
from gateway.observe.metrics import GatewayMetrics
from gateway.voice.realtime_protocol import PCM_RATE, PCMU
from gateway.voice.session import ReplyDone, ReplyText, VoiceOutput
from gateway.voice.words import WordJoiner

MAX_HELD_TEXT = 4_000
"""Words held between two frames; a model's transcript is far shorter."""


@dataclass(slots=True)
class Piece:
    turn_id: int
    pcm: bytes
    ulaw: bytes
    text: str = ""
    done: str | None = None
    """A marker: the reply ended with this status; the audio before it is all."""

    @property
    def ms(self) -> int:
        return (len(self.ulaw) // ULAW_FRAME_BYTES + len(self.pcm) // FRAME_BYTES) * FRAME_MS


class Framer:
    """One turn's model audio as (item id, frame) pairs, at the internal rate
    (PCM from the model's 24 kHz) or as μ-law untouched."""

    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.turn_id = 0
        self.item_id = ""
        self._rest = b""
        self._down = StreamResampler(PCM_RATE, INTERNAL_RATE)

    def _frame_bytes(self) -> int:
        return ULAW_FRAME_BYTES if self.fmt == PCMU else FRAME_BYTES

    def cut(self, turn_id: int, item_id: str, audio: bytes) -> list[tuple[str, bytes]]:
        frames: list[tuple[str, bytes]] = []
        if turn_id != self.turn_id:
            self.turn_id, self._rest = turn_id, b""
            self._down.reset()
        elif item_id != self.item_id:
            frames += self.flush()
        self.item_id = item_id
        if self.fmt != PCMU:
            audio = self._down.process(np.frombuffer(audio, dtype=np.int16)).tobytes()
        data = self._rest + audio
        size = self._frame_bytes()
        whole = len(data) - len(data) % size
        self._rest = data[whole:]
        return frames + [(item_id, data[i : i + size]) for i in range(0, whole, size)]

    def flush(self) -> list[tuple[str, bytes]]:
        if not self._rest:
            return []
        pad = ULAW_SILENCE if self.fmt == PCMU else b"\x00"
        frame = self._rest + pad * (self._frame_bytes() - len(self._rest))
        self._rest = b""
        return [(self.item_id, frame)]


class HeldAudio:
    def __init__(self, limit_ms: int) -> None:
        self.limit_ms = limit_ms
        # Bounded by `put`, which waits while `limit_ms` of frames are held;
        # words between two frames join one piece and a reply ends with one
        # marker, so pieces never outnumber three per frame held.
        self._pieces: deque[Piece] = deque()  # bounded by `put` (see above), not by maxlen
        self.buffered_ms = 0
        self.peak_ms = 0
        self._room = asyncio.Event()
        self._room.set()
        self._ready = asyncio.Event()

    def has_room(self, ms: int) -> bool:
        return self.buffered_ms + ms <= self.limit_ms

    async def put(self, piece: Piece) -> None:
        while not self.has_room(piece.ms):
            self._room.clear()
            await self._room.wait()
        self._pieces.append(piece)
        self.buffered_ms += piece.ms
        self.peak_ms = max(self.peak_ms, self.buffered_ms)
        self._ready.set()

    def put_text(self, turn_id: int, text: str) -> None:
        """Words never wait: between two frames they join one piece, bounded."""
        last = self._pieces[-1] if self._pieces else None
        if last is not None and last.text and last.turn_id == turn_id:
            last.text = (last.text + text)[:MAX_HELD_TEXT]
        else:
            self._pieces.append(Piece(turn_id, b"", b"", text=text[:MAX_HELD_TEXT]))
        self._ready.set()

    async def peek(self) -> Piece:
        while not self._pieces:
            self._ready.clear()
            await self._ready.wait()
        return self._pieces[0]

    def take(self, piece: Piece | None = None) -> None:
        """Remove the head (if it is still `piece`: a drop may have taken it)."""
        if self._pieces and (piece is None or self._pieces[0] is piece):
            self.buffered_ms -= self._pieces.popleft().ms
            self._room.set()

    def drop_turn(self, turn_id: int) -> int:
        """Forget everything of the turn; returns the milliseconds dropped."""
        before = self.buffered_ms
        kept = [p for p in self._pieces if p.turn_id != turn_id]
        self._pieces.clear()
        self._pieces.extend(kept)
        self.buffered_ms = sum(p.ms for p in kept)
        self._room.set()
        return before - self.buffered_ms


async def feed_call(held: HeldAudio, out: VoiceOutput) -> None:
    """Hand the held pieces to the call, in order, as its queue takes them."""
    while True:
        piece = await held.peek()
        if piece.text:
            held.take()
            out.event(ReplyText(piece.turn_id, piece.text))
            continue
        if piece.done is not None:
            # The voice keeps the turn: its last second is still to be heard,
            # and a barge-in there must still cut what was heard.
            held.take()
            out.event(ReplyDone(piece.turn_id, failed=piece.done not in ("completed",)))
            continue
        live = await out.audio(piece.turn_id, piece.pcm, "", piece.ulaw)
        held.take(piece)
        if not live:
            held.drop_turn(piece.turn_id)


async def hold(held: HeldAudio, pieces: list[Piece], metrics: GatewayMetrics) -> None:
    """Model audio waits for the call; a full buffer pauses the reader, counted."""
    for piece in pieces:
        if not held.has_room(piece.ms):
            metrics.model_audio_paused.inc()
        await held.put(piece)
    metrics.model_audio_buffered_ms.observe(held.buffered_ms)


async def end_reply(held: HeldAudio, words: WordJoiner, turn_id: int, status: str) -> None:
    """The reply's last word, then its end, in line behind its audio."""
    last_word = words.flush(turn_id)
    if last_word:
        held.put_text(turn_id, last_word)
    await held.put(Piece(turn_id, b"", b"", done=status))


class BadEvents:
    """Counts a model's messages that could not be read; logs the first few
    only, so a stream of garbage never becomes a stream of logs."""

    LOGGED = 3

    def __init__(self, metrics: GatewayMetrics, voice: str) -> None:
        self.count = 0
        self._counter = metrics.voice_problems.labels(voice, "bad_event")

    def __call__(self, detail: str, log: logging.Logger) -> None:
        self.count += 1
        self._counter.inc()
        if self.count <= self.LOGGED:
            log.warning("ignored a malformed model message: %s", detail)
