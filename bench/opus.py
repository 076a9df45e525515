"""What a WebRTC call's Opus costs a frame: PyAV's codec contexts against
libopus called directly (gateway/audio/opus.py), on the same 20 ms frames of
recorded speech (Asterisk's prompts at 16 kHz; a tone if they are absent).

- encode: 16 kHz mono PCM to one Opus packet, VoIP, 32 kbit/s, the gateway's
  default complexity;
- decode: one packet to 16 kHz mono PCM, as the pipeline takes it. PyAV's
  decoder gives 48 kHz, so its figure includes the resample the session
  needed before.

CPU time per frame, median of five passes, in microseconds.

    python -m bench.opus
"""

from __future__ import annotations

import fractions
import statistics
import time

import av
import numpy as np

from bench.common import write_json
from gateway.audio.frames import FRAME_BYTES, FRAME_SAMPLES, INTERNAL_RATE
from gateway.audio.opus import OpusDecoder, version
from gateway.audio.resample import MonoResampler, one_thread
from gateway.testing import recorded_speech
from transports.webrtc.track import OPUS_BITRATE, opus_encoder

PASSES = 5
COMPLEXITY = 1


def speech_frames() -> tuple[list[bytes], str]:
    if recorded_speech.available("g722"):
        pcm = b"".join(
            recorded_speech.load_pcm(p, "g722") for p in recorded_speech.prompts("g722")[:20]
        )
        source = "Asterisk prompts (G.722, 16 kHz)"
    else:
        t = np.arange(INTERNAL_RATE * 10) / INTERNAL_RATE
        pcm = (np.sin(2 * np.pi * 220 * t) * 6000).astype(np.int16).tobytes()
        source = "a 220 Hz tone"
    whole = len(pcm) - len(pcm) % FRAME_BYTES
    return [pcm[i : i + FRAME_BYTES] for i in range(0, whole, FRAME_BYTES)], source


def pyav_encoder() -> av.CodecContext:
    encoder = one_thread(av.CodecContext.create("libopus", "w"))
    encoder.sample_rate = INTERNAL_RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = OPUS_BITRATE
    encoder.time_base = fractions.Fraction(1, INTERNAL_RATE)
    encoder.options = {"application": "voip", "compression_level": str(COMPLEXITY)}
    return encoder


def per_frame_us(work, frames: list) -> float:
    runs = []
    for _ in range(PASSES):
        start = time.process_time()
        work(frames)
        runs.append((time.process_time() - start) / len(frames) * 1e6)
    return round(statistics.median(runs), 1)


def pyav_encode(frames: list[bytes]) -> None:
    encoder = pyav_encoder()
    frame = av.AudioFrame(format="s16", layout="mono", samples=FRAME_SAMPLES)
    frame.sample_rate = INTERNAL_RATE
    for n, pcm in enumerate(frames):
        frame.planes[0].update(pcm)
        frame.pts = n * FRAME_SAMPLES
        encoder.encode(frame)


def libopus_encode(frames: list[bytes]) -> None:
    encoder = opus_encoder(COMPLEXITY)
    for pcm in frames:
        encoder.encode(pcm)


def pyav_decode(packets: list[bytes]) -> None:
    decoder = one_thread(av.CodecContext.create("opus", "r"))
    decoder.layout = "mono"
    to_16k = MonoResampler(INTERNAL_RATE)
    for packet in packets:
        for frame in decoder.decode(av.Packet(packet)):
            to_16k.resample(frame)


def libopus_decode(packets: list[bytes]) -> None:
    decoder = OpusDecoder(INTERNAL_RATE)
    for packet in packets:
        decoder.decode(packet)


def main() -> None:
    frames, source = speech_frames()
    encoder = opus_encoder(COMPLEXITY)
    packets = [encoder.encode(pcm) for pcm in frames]
    result = {
        "benchmark": "opus",
        "libopus": version(),
        "speech": source,
        "frames": len(frames),
        "encode_us": {"pyav": per_frame_us(pyav_encode, frames),
                      "libopus": per_frame_us(libopus_encode, frames)},
        "decode_to_16k_us": {"pyav": per_frame_us(pyav_decode, packets),
                             "libopus": per_frame_us(libopus_decode, packets)},
    }  # fmt: skip
    print(f"{version()}, {len(frames)} frames of {source}:")
    print(f"CPU per 20 ms frame, median of {PASSES} passes")
    for stage in ("encode_us", "decode_to_16k_us"):
        figures = result[stage]
        print(f"  {stage[:-3]:>14}: PyAV {figures['pyav']} us, libopus {figures['libopus']} us")
    print(f"wrote {write_json('opus.json', result)}")


if __name__ == "__main__":
    main()
