"""Caller audio from a G.711 wire is converted only when somebody reads it
(gateway/audio/caller_audio.py): a quiet caller's frames never are, and what
is read is the same audio the wire carried."""

from __future__ import annotations

import numpy as np
import pytest
import soxr

from gateway.audio.caller_audio import CallerAudio, pcm_block_powers
from gateway.audio.frames import FRAME_BYTES, FRAME_MS
from gateway.audio.g711 import ALAW, MULAW
from gateway.audio.wire_format import InboundAudio, WireFormat
from gateway.clock import FakeClock
from gateway.pipeline.segmenter import VadSettings
from gateway.pipeline.vad import VoiceDetector

pytestmark = pytest.mark.timeout(10)

RNG = np.random.default_rng(3)
CODECS = {"pcmu": MULAW, "pcma": ALAW}


def noise_8k(frames: int, dbfs: float) -> np.ndarray:
    amplitude = 32768 * 10 ** (dbfs / 20)
    return (RNG.standard_normal(160 * frames) * amplitude).astype(np.int16)


def tone_8k(frames: int, hz: float = 440.0, amplitude: int = 8000) -> np.ndarray:
    t = np.arange(160 * frames) / 8000
    return (np.sin(2 * np.pi * hz * t) * amplitude).astype(np.int16)


def wire_frames(samples: np.ndarray, encoding: str) -> list[bytes]:
    encoded = CODECS[encoding].encode(samples)
    return [encoded[i : i + 160] for i in range(0, len(encoded), 160)]


class Counting(InboundAudio):
    """InboundAudio that counts the frames it converts."""

    converted = 0

    def pcm_of(self, seq: int, wire: bytes) -> bytes:
        self.converted += 1
        return super().pcm_of(seq, wire)


@pytest.mark.parametrize("encoding", ["pcmu", "pcma"])
def test_frames_read_in_order_are_one_stream_with_a_quarter_millisecond_start(
    encoding: str,
) -> None:
    frames = wire_frames(tone_8k(20), encoding)
    inbound = InboundAudio(WireFormat(encoding, 8000))
    heard = [a for f in frames for a in inbound.audio(f)]
    assert len(heard) == len(frames) and all(a.ms == FRAME_MS for a in heard)
    assert heard[0].ulaw8k == (frames[0] if encoding == "pcmu" else b"")
    lazy = np.frombuffer(b"".join(a.pcm for a in heard), dtype=np.int16)
    stream = soxr.ResampleStream(8000, 16000, 1, dtype="int16", quality="QQ")
    decoded = CODECS[encoding].decode(b"".join(frames))
    chunks = [stream.resample_chunk(decoded[i : i + 160]) for i in range(0, decoded.size, 160)]
    whole = np.concatenate(chunks)
    padding = lazy.size - whole.size
    assert 0 < padding <= 8 and not lazy[:padding].any()
    assert np.array_equal(lazy[padding:], whole)


def test_after_frames_nobody_read_the_next_one_starts_a_fresh_stream() -> None:
    frames = wire_frames(tone_8k(10), "pcmu")
    inbound = InboundAudio(WireFormat("pcmu", 8000))
    heard = [a for f in frames for a in inbound.audio(f)]
    assert heard[0].pcm and heard[1].pcm
    alone = InboundAudio(WireFormat("pcmu", 8000))
    alone.audio(frames[2])  # skipped here, as by a quiet caller
    (fresh,) = alone.audio(frames[5])
    assert len(heard[5].pcm) == FRAME_BYTES
    (first,) = InboundAudio(WireFormat("pcmu", 8000)).audio(frames[5])
    assert heard[5].pcm == first.pcm
    assert heard[5].pcm == fresh.pcm  # no state from frames it never converted


def test_messages_of_any_size_are_cut_into_whole_frames_of_wire_bytes() -> None:
    encoded = MULAW.encode(tone_8k(7))
    inbound = InboundAudio(WireFormat("pcmu", 8000))
    sizes = [144, 176, 100, 300, 80, 100, 100]  # a far end that resamples sends uneven pieces
    heard, at = [], 0
    for size in sizes:
        heard.append(inbound.audio(encoded[at : at + size]))
        at += size
    assert [len(frames) for frames in heard] == [0, 2, 0, 2, 1, 0, 1]
    frames = [a for piece in heard for a in piece]
    assert [a.ulaw8k for a in frames] == [encoded[i : i + 160] for i in range(0, 960, 160)]
    whole = InboundAudio(WireFormat("pcmu", 8000))
    same = [a for i in range(0, 960, 160) for a in whole.audio(encoded[i : i + 160])]
    assert [a.pcm for a in frames] == [a.pcm for a in same]


def test_linear_pcm_is_converted_on_arrival() -> None:
    inbound = InboundAudio(WireFormat("l16", 16000))
    pcm = tone_8k(2).tobytes() * 2  # 40 ms at 16 kHz, read as such
    (audio,) = inbound.audio(pcm[:1000])
    assert audio.pcm == pcm[:FRAME_BYTES] and audio.ulaw8k == b""
    assert inbound.audio(pcm[1000:1100]) == []


@pytest.mark.parametrize(("signal", "within_db"), [("noise", 1.0), ("tone", 0.1)])
@pytest.mark.parametrize("encoding", ["pcmu", "pcma"])
def test_the_wire_tells_a_windows_power_as_the_converted_audio_would(
    encoding: str, signal: str, within_db: float
) -> None:
    """White noise fills the band to 4 kHz, where the quick resampler's filter
    rolls off: the wire reads it up to 1 dB louder. Speech and tones sit lower."""
    samples = noise_8k(42, -45) if signal == "noise" else tone_8k(42, amplitude=3000)
    inbound = InboundAudio(WireFormat(encoding, 8000))
    heard = [a for f in wire_frames(samples, encoding) for a in inbound.audio(f)][2:]  # past start
    from_wire = np.concatenate([a.block_powers() for a in heard]).reshape(-1, 8).mean(axis=1)
    from_pcm = np.concatenate([pcm_block_powers(a.pcm) for a in heard]).reshape(-1, 8).mean(axis=1)
    db = 10 * np.log10(from_wire / from_pcm)
    assert np.abs(db).max() <= within_db, db


class Recording:
    """A model stand-in: voiced when a window is loud; keeps what it was given."""

    window_samples = 512

    def __init__(self) -> None:
        self.windows: list[np.ndarray | None] = []

    def submit(self, window, done) -> None:
        self.windows.append(window)
        done(1.0 if window is not None and float(np.abs(window).mean()) > 0.05 else 0.0)

    def close(self) -> None:
        pass


def test_a_quiet_caller_is_never_converted_and_every_window_is_still_judged() -> None:
    clock = FakeClock(0.0)
    model = Recording()
    detector = VoiceDetector(model, VadSettings(), lambda event, at: None, clock)
    inbound = Counting(WireFormat("pcmu", 8000))
    quiet = 200  # four seconds of line noise
    for frame in wire_frames(noise_8k(quiet, -45), "pcmu"):
        for audio in inbound.audio(frame):
            detector.hear(audio)
        clock.advance(0.02)
    assert len(model.windows) == quiet * FRAME_MS // 32
    assert inbound.converted <= 3  # the first windows, before the floor is known
    assert detector.model_windows == sum(w is not None for w in model.windows)

    for frame in wire_frames(tone_8k(25), "pcmu"):  # then the caller speaks
        for audio in inbound.audio(frame):
            detector.hear(audio)
        clock.advance(0.02)
    assert detector.segmenter.speaking
    assert inbound.converted >= 20


def test_the_model_hears_exactly_the_samples_of_its_window() -> None:
    clock = FakeClock(0.0)
    model = Recording()
    detector = VoiceDetector(model, VadSettings(), lambda event, at: None, clock)
    silence = np.zeros(320 * 16, dtype=np.int16)  # sets the floor low
    loud = (RNG.standard_normal(320 * 24) * 6000).astype(np.int16)
    pcm = np.concatenate((silence, loud)).tobytes()
    for i in range(0, len(pcm), FRAME_BYTES):
        detector.feed(pcm[i : i + FRAME_BYTES])
    expected = np.frombuffer(pcm, dtype=np.int16).astype(np.float32) / 32768
    assert len(model.windows) == 40 * 320 // 512
    heard = [n for n, window in enumerate(model.windows) if window is not None]
    assert heard == list(range(len(silence) // 512, len(model.windows)))
    for n in heard:
        window = model.windows[n]
        assert window is not None and window.dtype == np.float32
        assert np.array_equal(window, expected[n * 512 : (n + 1) * 512])


def test_several_frames_in_one_piece_of_pcm_are_heard_one_by_one() -> None:
    pcm = bytes(FRAME_BYTES * 3)
    frames = CallerAudio(pcm).frames()
    assert [f.pcm for f in frames] == [bytes(FRAME_BYTES)] * 3
    assert CallerAudio(pcm).ms == 3 * FRAME_MS
    single = CallerAudio(bytes(FRAME_BYTES))
    assert single.frames() == (single,)
