"""The libopus binding: what the WebRTC wire encodes and decodes with.

Interoperability is checked against FFmpeg's own Opus decoder and encoder
(through PyAV), which share no code with the binding beyond the bitstream.
"""

import fractions

import av
import numpy as np
import pytest

from gateway.audio.frames import FRAME_BYTES, FRAME_SAMPLES, INTERNAL_RATE
from gateway.audio.opus import OpusDecoder, OpusEncoder, OpusError, version


def tone(frames: int, hz: float = 440.0, rate: int = INTERNAL_RATE, amplitude: int = 8000):
    t = np.arange(frames * rate // 50) / rate
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def peak_hz(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / rate)[spectrum.argmax()])


def encode_all(encoder: OpusEncoder, pcm: np.ndarray) -> list[bytes]:
    data = pcm.tobytes()
    return [encoder.encode(data[i : i + FRAME_BYTES]) for i in range(0, len(data), FRAME_BYTES)]


def test_a_version_is_loaded():
    assert version().startswith("libopus ")


def test_a_tone_survives_the_round_trip_at_16_khz():
    encoder = OpusEncoder(INTERNAL_RATE, bitrate=32_000, complexity=1)
    decoder = OpusDecoder(INTERNAL_RATE)
    sent = tone(50)
    packets = encode_all(encoder, sent)
    decoded = [decoder.decode(p) for p in packets]
    assert {len(pcm) for pcm in decoded} == {FRAME_BYTES}  # 20 ms in, 20 ms out
    heard = np.frombuffer(b"".join(decoded), dtype=np.int16)[FRAME_SAMPLES * 10 :]
    assert abs(peak_hz(heard, INTERNAL_RATE) - 440) < 10
    rms_in = np.sqrt(np.mean(sent.astype(np.float64) ** 2))
    rms_out = np.sqrt(np.mean(heard.astype(np.float64) ** 2))
    assert 0.7 < rms_out / rms_in < 1.4
    assert all(len(p) < 200 for p in packets)  # about 32 kbit/s, not raw


def test_ffmpegs_decoder_plays_the_packets_at_48_khz():
    """What a browser does: any Opus decoder, at the RTP clock's 48 kHz."""
    encoder = OpusEncoder(INTERNAL_RATE, bitrate=32_000, complexity=1)
    decoder = av.CodecContext.create("opus", "r")
    heard = []
    for packet in encode_all(encoder, tone(50)):
        for frame in decoder.decode(av.Packet(packet)):
            assert frame.format.is_planar  # one row per channel: the first is enough
            heard.append(frame.to_ndarray()[0])
    samples = np.concatenate(heard)
    assert samples.size == 50 * 960
    assert abs(peak_hz(samples[960 * 10 :], 48_000) - 440) < 10


def test_a_browsers_stereo_48_khz_packets_decode_to_mono_16_khz():
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate = 48_000
    encoder.layout = "stereo"
    encoder.format = "s16"
    encoder.time_base = fractions.Fraction(1, 48_000)
    left = tone(50, rate=48_000)
    stereo = np.column_stack([left, left]).reshape(1, -1)
    packets = []
    for i in range(50):
        frame = av.AudioFrame.from_ndarray(
            stereo[:, i * 1920 : (i + 1) * 1920], format="s16", layout="stereo"
        )
        frame.sample_rate = 48_000
        frame.pts = i * 960
        packets += [bytes(p) for p in encoder.encode(frame)]
    decoder = OpusDecoder(INTERNAL_RATE)
    decoded = [decoder.decode(p) for p in packets]
    assert {len(pcm) for pcm in decoded} == {FRAME_BYTES}
    heard = np.frombuffer(b"".join(decoded), dtype=np.int16)
    assert abs(peak_hz(heard[FRAME_SAMPLES * 10 :], INTERNAL_RATE) - 440) < 10


@pytest.mark.parametrize("packet", [b"", b"\xff\xff\xff", bytes(2000)])
def test_a_bad_packet_is_refused_and_the_decoder_goes_on(packet: bytes):
    encoder = OpusEncoder(INTERNAL_RATE, bitrate=32_000, complexity=1)
    decoder = OpusDecoder(INTERNAL_RATE)
    with pytest.raises(OpusError):
        decoder.decode(packet)
    assert len(decoder.decode(encoder.encode(tone(1).tobytes()))) == FRAME_BYTES


def test_the_encoder_refuses_a_frame_that_is_no_opus_frame_size():
    encoder = OpusEncoder(INTERNAL_RATE, bitrate=32_000, complexity=1)
    with pytest.raises(OpusError):
        encoder.encode(bytes(300 * 2))  # 18.75 ms
    assert encoder.encode(bytes(FRAME_BYTES))  # and it still works


def test_a_bad_setting_is_refused_when_opening():
    with pytest.raises(OpusError):
        OpusEncoder(44_100, bitrate=32_000, complexity=1)  # not an Opus rate
    with pytest.raises(OpusError):
        OpusDecoder(INTERNAL_RATE, channels=3)


def test_closing_twice_is_harmless():
    encoder = OpusEncoder(INTERNAL_RATE, bitrate=32_000, complexity=1)
    decoder = OpusDecoder(INTERNAL_RATE)
    encoder.close()
    encoder.close()
    decoder.close()
    decoder.close()
