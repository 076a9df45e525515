"""The paced output track: what aiortc's sender pulls, one 20 ms frame per deadline.

The track encodes Opus itself, straight from the pipeline's 16 kHz with
libopus (gateway/audio/opus.py), and hands aiortc ready packets (which its
sender supports: a track may return encoded packets). Measured on ten calls,
that removes a 16 to 48 kHz resample here, aiortc's own resample to 48 kHz
stereo, a thread-pool hop per frame, and aiortc's per-frame audio level
computed in pure Python (about 7 % of the gateway's time on its own). Calling
libopus itself, not through PyAV's encoder, halves the encode again. Opus is
rate-agnostic on the wire: the RTP clock stays 48 kHz and any receiver decodes
these packets.

Encoding is then most of a call's cost, so two more savings: the encoder's
complexity is a setting (1 by default: on eSpeak speech at 32 kbit/s its
segmental SNR is within 0.3 dB of complexity 10, at a quarter of the cost), and
while the agent is silent the track stops encoding: once the encoder has
settled on digital silence, its 7-byte silence packet is sent again as is.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
from collections.abc import Callable

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gateway.audio.frames import FRAME_BYTES, FRAME_SAMPLES, INTERNAL_RATE, AudioChunk
from gateway.audio.opus import OpusEncoder
from gateway.flow.pacer import Pacer

TIME_BASE = fractions.Fraction(1, INTERNAL_RATE)
OPUS_BITRATE = 32_000
"""Mono speech from TTS: 32 kbit/s is transparent for it."""
_SILENCE = bytes(FRAME_BYTES)
SILENCE_SETTLE_FRAMES = 5
"""Silent frames through the live encoder before its packet is reused: enough
for the tail of speech (Opus looks 6.5 ms ahead) to leave the pipe and the
packets to shrink to their steady 7 bytes."""
log = logging.getLogger(__name__)


def opus_encoder(complexity: int = 1) -> OpusEncoder:
    return OpusEncoder(INTERNAL_RATE, bitrate=OPUS_BITRATE, complexity=complexity)


def rtp_packet(opus: bytes, n: int) -> av.Packet:
    """Frame `n`'s Opus packet as aiortc's sender takes it: stamped on our own
    clock (monotonic from 0, 20 ms a frame), not the encoder's."""
    packet = av.Packet(opus)
    packet.pts = n * FRAME_SAMPLES
    packet.time_base = TIME_BASE
    return packet


class PacedAudioTrack(MediaStreamTrack):
    """recv() sleeps to an absolute deadline, then returns the pacer's frame (or
    silence) as one Opus packet. It never blocks beyond the deadline and never
    raises while live: any exception out of recv() ends aiortc's sender for good.
    """

    kind = "audio"

    def __init__(
        self,
        pacer: Pacer,
        on_emit: Callable[[AudioChunk | None], None],
        complexity: int = 1,
    ) -> None:
        super().__init__()
        self.pacer = pacer
        self._on_emit = on_emit
        self._encoder = opus_encoder(complexity)
        self._silent_run = 0
        self._silence_packet: bytes | None = None
        self.frames_encoded = 0
        self._n = 0

    def flush(self, turn_id: int) -> int:
        return self.pacer.flush(turn_id)

    def _encode(self, pcm: bytes | None) -> av.Packet:
        """`None` is silence."""
        if pcm is None:
            self._silent_run += 1
            if self._silence_packet is not None and self._silent_run > SILENCE_SETTLE_FRAMES:
                return rtp_packet(self._silence_packet, self._n)
            pcm = _SILENCE
        else:
            self._silent_run = 0
            # libopus takes whole frames only, and an error here would end the sender.
            if len(pcm) != FRAME_BYTES:
                pcm = pcm[:FRAME_BYTES].ljust(FRAME_BYTES, b"\0")
        self.frames_encoded += 1
        packet = self._encoder.encode(pcm)
        if self._silent_run == SILENCE_SETTLE_FRAMES:
            self._silence_packet = packet
        return rtp_packet(packet, self._n)

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        wait = self.pacer.next_deadline() - self.pacer.clock.now()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.pacer.emit()
        try:
            self._on_emit(chunk)
        except Exception:  # an error here must not end the sender
            log.exception("on_emit failed")
        packet = self._encode(chunk.pcm if chunk is not None else None)
        self._n += 1
        return packet
