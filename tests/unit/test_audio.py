import numpy as np

from gateway.audio import mulaw
from gateway.audio.frames import FRAME_BYTES, split_frames
from gateway.audio.resample import StreamResampler
from gateway.call.turn_record import TurnRecord


def test_mulaw_round_trip_is_within_g711_quantisation():
    samples = np.linspace(-32000, 32000, 4000).astype(np.int16)
    decoded = mulaw.decode(mulaw.encode(samples)).astype(np.int32)
    error = np.abs(decoded - samples)
    assert error.max() <= np.maximum(np.abs(samples) // 16, 8).max()
    assert mulaw.decode(mulaw.encode(np.zeros(8, dtype=np.int16))).tolist() == [0] * 8


def test_mulaw_matches_g711_reference_points():
    assert mulaw.encode(np.array([0], dtype=np.int16)) == b"\xff"
    assert mulaw.decode(b"\x00\x80").tolist() == [-32124, 32124]


def test_stream_resampler_keeps_a_tone_and_adds_almost_no_delay():
    t = np.arange(16000) / 16000
    tone = (8000 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    down = StreamResampler(16000, 8000)
    out = np.concatenate([down.process(tone[i : i + 320]) for i in range(0, 16000, 320)])
    assert 7950 <= out.size <= 8000  # at most a few ms held back
    spectrum = np.abs(np.fft.rfft(out[1000:7000]))
    peak_hz = np.argmax(spectrum) * 8000 / 6000
    assert abs(peak_hz - 440) < 5


def test_split_frames_pads_the_last_frame():
    frames = split_frames(bytes(FRAME_BYTES * 2 + 10))
    assert [len(f) for f in frames] == [FRAME_BYTES] * 3


def test_heard_text_cuts_at_the_playout_position():
    record = TurnRecord(1, 0.0)
    record.add("One two three four.", 1000)
    record.add("Five six seven eight.", 1000)
    assert record.heard_text(0) == ""
    assert record.heard_text(1000) == "One two three four."
    assert record.heard_text(1500) == "One two three four. Five six"
    assert record.heard_text(5000) == "One two three four. Five six seven eight."
