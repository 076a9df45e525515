import av
import numpy as np

from gateway.audio.frames import FRAME_SAMPLES, AudioChunk
from gateway.clock import FakeClock
from gateway.flow.pacer import Pacer
from transports.webrtc.track import SILENCE_SETTLE_FRAMES, PacedAudioTrack


def tone(i: int) -> bytes:
    t = (np.arange(FRAME_SAMPLES) + i * FRAME_SAMPLES) / 16000
    return (np.sin(2 * np.pi * 300 * t) * 8000).astype(np.int16).tobytes()


async def play(track: PacedAudioTrack, clock: FakeClock, frames: int) -> list[bytes]:
    packets = []
    for _ in range(frames):
        clock.advance(0.02)
        packets.append(bytes(await track.recv()))
    return packets


def decode_peaks(packets: list[bytes]) -> list[float]:
    decoder = av.CodecContext.create("opus", "r")
    peaks = []
    for payload in packets:
        for frame in decoder.decode(av.Packet(payload)):
            peaks.append(float(np.abs(frame.to_ndarray()).max()))
    return peaks


async def test_silence_stops_costing_an_encode_and_still_decodes_to_silence():
    clock = FakeClock()
    pacer = Pacer(clock, cushion_ms=200)
    track = PacedAudioTrack(pacer, lambda chunk: None)
    for i in range(5):
        pacer.push(AudioChunk(1, tone(i), i * 20))
    speech = await play(track, clock, 5)
    silence = await play(track, clock, 50)
    assert track.frames_encoded == 5 + SILENCE_SETTLE_FRAMES
    assert len(set(silence[SILENCE_SETTLE_FRAMES:])) == 1 and len(silence[-1]) < 16

    for i in range(5):
        pacer.push(AudioChunk(2, tone(i), i * 20))
    again = await play(track, clock, 5)
    assert track.frames_encoded == 10 + SILENCE_SETTLE_FRAMES  # speech is encoded live again

    peaks = decode_peaks(speech + silence + again)
    assert max(peaks[1:5]) > 0.1  # the tone came through (float samples, full scale 1.0)
    assert max(peaks[5 + SILENCE_SETTLE_FRAMES : 55]) < 1e-3  # the reused packet is silence
    assert max(peaks[-3:]) > 0.1


async def test_timestamps_stay_monotonic_across_reused_silence():
    clock = FakeClock()
    track = PacedAudioTrack(Pacer(clock, cushion_ms=60), lambda chunk: None)
    stamps = []
    for _ in range(20):
        clock.advance(0.02)
        stamps.append((await track.recv()).pts)
    assert stamps == [i * FRAME_SAMPLES for i in range(20)]
