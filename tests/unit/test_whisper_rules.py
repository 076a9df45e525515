"""Whisper's rules that need no model: the encoder window, the noise guard,
the loop guard, and the check of the bundled weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.pipeline import whisper_weights
from gateway.pipeline.whisper_stt import collapse_loop, is_no_speech, window_frames

pytestmark = pytest.mark.timeout(10)


@pytest.mark.parametrize(
    ("frames", "min_window_s", "expected"),
    [
        (300, 15, 1500),  # a 3 s utterance: padded to the 15 s floor, not to 30 s
        (1499, 15, 1500),
        (1501, 15, 2000),  # past the floor: rounded up to the next 5 s
        (2600, 15, 3000),
        (4000, 15, 3000),  # never past Whisper's own 30 s
        (300, 30, 3000),  # 30: Whisper's own window, for accuracy over speed
        (300, 10, 1000),
    ],
)
def test_the_window_follows_the_utterance_within_bounds(frames, min_window_s, expected):
    assert window_frames(frames, min_window_s) == expected


@pytest.mark.parametrize(
    ("no_speech", "logprob", "noise"),
    [
        (0.95, -0.2, True),  # sure it is not speech, whatever the text
        (0.64, -0.8, True),  # a cough written as "Thank you."
        (0.59, -1.5, True),  # a breath written as "Okay.", with little confidence
        (0.52, -0.6, False),  # a real one-word answer
        (0.57, -1.0, False),  # a real question whose first syllable the pre-roll cut
        (0.34, -1.2, False),  # a real word the model is unsure how to spell
        (0.45, -1.5, False),
    ],
)
def test_the_noise_guard(no_speech, logprob, noise):
    assert is_no_speech(no_speech, logprob, 0.6) is noise


def test_a_decoding_loop_keeps_the_block_it_repeats():
    assert collapse_loop("Location. Location. Location. Location.") == "Location."
    assert collapse_loop("press one press one press one") == "press one"
    assert collapse_loop("no no") == "no no"  # twice is speech, not a loop
    assert collapse_loop("tell me a story") == "tell me a story"
    # Said once, then started over (Whisper tiny.en on 3 s of Piper's greeting):
    greeting = "Hello, this is lose. How can I help you today?"
    assert collapse_loop(greeting + " Hello, this is lose") == greeting
    assert collapse_loop(greeting + " Hello, this") == greeting
    assert collapse_loop("so I said so") == "so I said so"  # one word again is speech


def test_weights_with_their_recorded_hashes_load(tmp_path: Path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    provenance = _provenance_of(tmp_path)
    whisper_weights.verify(tmp_path, provenance)


def test_changed_or_missing_weights_refuse_to_load(tmp_path: Path):
    (tmp_path / "model.bin").write_bytes(b"weights")
    provenance = _provenance_of(tmp_path)
    (tmp_path / "model.bin").write_bytes(b"weightz")
    with pytest.raises(whisper_weights.WeightsMismatch, match="refusing"):
        whisper_weights.verify(tmp_path, provenance)
    (tmp_path / "model.bin").unlink()
    with pytest.raises(whisper_weights.WeightsMismatch, match="missing"):
        whisper_weights.verify(tmp_path, provenance)


def test_the_installed_bundle_matches_what_was_recorded():
    """The package on this machine is the one whose hashes the project holds."""
    whisper_weights.verify(whisper_weights.bundled_path())


def _provenance_of(directory: Path) -> whisper_weights.Provenance:
    return whisper_weights.Provenance(
        package="p",
        version="1",
        wheel_sha256="",
        licence="",
        origin="",
        files={"model.bin": whisper_weights.sha256_of(directory / "model.bin")},
    )


def test_a_long_utterance_is_cut_at_its_pauses():
    import numpy as np

    from gateway.pipeline.whisper_stt import quiet_cuts

    rate = 16_000
    rng = np.random.default_rng(0)
    speech = rng.normal(0, 3000, 40 * rate)
    for pause_s in (11.0, 23.5, 33.0):  # 300 ms pauses between "sentences"
        speech[int(pause_s * rate) : int((pause_s + 0.3) * rate)] = 0
    cuts = quiet_cuts(speech, rate, 15)
    assert len(cuts) == 3
    for cut, pause_s in zip(cuts, (11.0, 23.5, 33.0), strict=True):
        assert pause_s * rate <= cut < (pause_s + 0.3) * rate
    assert all(b - a <= 15 * rate for a, b in zip([0, *cuts], [*cuts, speech.size], strict=True))
    assert quiet_cuts(speech[: 15 * rate], rate, 15) == []
