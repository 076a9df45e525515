"""A telephone wire's own audio format, and the one conversion at its edge.

Carriers send G.711 (μ-law or A-law) or 16-bit linear PCM at 8 or 16 kHz
(24 kHz on a few). Caller audio becomes whole 20 ms frames at the internal
rate: a G.711 frame when it is first used (caller_audio.py), anything else
on arrival. Agent audio is converted once, on the way out.
μ-law at 8 kHz passes straight through both ways, so a voice that speaks it
(the Realtime model) is never transcoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from gateway.audio.caller_audio import CallerAudio, wire_block_powers
from gateway.audio.frames import FRAME_BYTES, FRAME_MS, INTERNAL_RATE, AudioChunk
from gateway.audio.g711 import ALAW, MULAW
from gateway.audio.resample import StreamResampler

Encoding = Literal["pcmu", "pcma", "l16"]
RATES = (8000, 16000, 24000)


@dataclass(frozen=True, slots=True)
class WireFormat:
    encoding: Encoding
    rate: int
    big_endian: bool = False
    """L16 only: RTP's network order (Telnyx) rather than little-endian (the rest)."""

    def __post_init__(self) -> None:
        if self.rate not in RATES:
            raise ValueError(f"unsupported sample rate {self.rate}")
        if self.encoding != "l16" and self.rate != 8000:
            raise ValueError("G.711 is 8 kHz")

    @property
    def bytes_per_ms(self) -> int:
        return self.rate // 1000 * (2 if self.encoding == "l16" else 1)

    @property
    def frame_bytes(self) -> int:
        """One 20 ms frame on the wire."""
        return self.bytes_per_ms * FRAME_MS

    @property
    def native_audio(self) -> str:
        """What a voice may produce for this wire directly (see Transport.native_audio)."""
        return "pcmu" if self.encoding == "pcmu" else ""

    def silence(self, size: int) -> bytes:
        if self.encoding == "l16":
            return bytes(size)
        return (MULAW if self.encoding == "pcmu" else ALAW).silence * size

    def decode(self, data: bytes) -> np.ndarray:
        if self.encoding == "pcmu":
            return MULAW.decode(data)
        if self.encoding == "pcma":
            return ALAW.decode(data)
        usable = len(data) - len(data) % 2
        return np.frombuffer(data[:usable], dtype=">i2" if self.big_endian else "<i2").astype(
            np.int16
        )

    def encode(self, samples: np.ndarray) -> bytes:
        if self.encoding == "pcmu":
            return MULAW.encode(samples)
        if self.encoding == "pcma":
            return ALAW.encode(samples)
        return samples.astype(">i2" if self.big_endian else "<i2", copy=False).tobytes()


class InboundAudio:
    """Caller audio in the wire's format to whole 20 ms frames at the internal rate.

    G.711 stays on the wire until somebody reads a frame's `pcm`
    (caller_audio.py): messages are cut into whole 20 ms frames of wire bytes,
    the rest kept for the next message. Frames are converted in order; after
    frames nobody read, the resampler starts afresh (a quarter of a
    millisecond of start-up, padded with silence, so each frame is whole).
    Linear PCM is converted on arrival, with whatever does not fill a frame
    kept for the next message.
    """

    def __init__(self, fmt: WireFormat) -> None:
        self.fmt = fmt
        self._up = StreamResampler(fmt.rate, INTERNAL_RATE)
        self._pending = b""
        """What did not fill a frame: wire bytes for G.711, else PCM."""
        codec = {"pcmu": MULAW, "pcma": ALAW}.get(fmt.encoding)
        self._powers = codec.powers if codec is not None else None
        self._seq = 0
        self._next = 1
        """The frame the resampler's state continues into."""

    def audio(self, payload: bytes) -> list[CallerAudio]:
        """The whole frames this message completes (none, one, or more)."""
        if self._powers is None:
            pcm = self._convert(payload)
            return [CallerAudio(pcm)] if pcm else []
        size = self.fmt.frame_bytes
        data = self._pending + payload if self._pending else payload
        whole = len(data) - len(data) % size
        self._pending = data[whole:]
        ulaw = self.fmt.encoding == "pcmu"
        frames = []
        for i in range(0, whole, size):
            self._seq += 1
            wire = data if len(data) == size else data[i : i + size]  # the usual: no copy
            frames.append(
                CallerAudio(ulaw8k=wire if ulaw else b"", wire=wire, seq=self._seq, source=self)
            )
        return frames

    def pcm_of(self, seq: int, wire: bytes) -> bytes:
        if seq != self._next:
            self._up.reset()
        self._next = seq + 1
        samples = self._up.process(self.fmt.decode(wire))
        short = FRAME_BYTES // 2 - samples.size
        if short > 0:
            samples = np.concatenate((np.zeros(short, dtype=np.int16), samples))
        return samples[-(FRAME_BYTES // 2) :].tobytes()

    def block_powers(self, wire: bytes) -> list[float]:
        assert self._powers is not None
        return wire_block_powers(self._powers, wire)

    def _convert(self, payload: bytes) -> bytes:
        """Linear PCM on arrival: whole frames, the rest kept (as PCM) for the next."""
        samples = self._up.process(self.fmt.decode(payload))
        pcm = self._pending + samples.tobytes() if self._pending else samples.tobytes()
        whole = len(pcm) - len(pcm) % FRAME_BYTES
        self._pending = pcm[whole:]
        return pcm[:whole]


class OutboundAudio:
    """Agent audio to the wire's format; `reset` between turns (unrelated streams)."""

    def __init__(self, fmt: WireFormat) -> None:
        self.fmt = fmt
        self._down = StreamResampler(INTERNAL_RATE, fmt.rate)
        self._from_8k = StreamResampler(8000, fmt.rate)

    def convert(self, chunk: AudioChunk) -> bytes:
        if chunk.ulaw8k:
            if self.fmt.encoding == "pcmu":
                return chunk.ulaw8k
            samples = self._from_8k.process(MULAW.decode(chunk.ulaw8k))
        else:
            samples = self._down.process(np.frombuffer(chunk.pcm, dtype=np.int16))
        return self.fmt.encode(samples) if samples.size else b""

    def reset(self) -> None:
        self._down.reset()
        self._from_8k.reset()
