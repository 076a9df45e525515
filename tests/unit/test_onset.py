"""Voice onset, fade and held reports: what the provisional interrupt runs on."""

from __future__ import annotations

import pytest

from gateway.pipeline.onset import OnsetTracker, VoiceFaded, VoiceHeld, VoiceOnset

pytestmark = pytest.mark.timeout(5)

W = 32.0


def run(tracker: OnsetTracker, probabilities: list[float], in_speech: bool = False) -> list:
    return [(i, e) for i, p in enumerate(probabilities) if (e := tracker.push(p, W, in_speech))]


def tracker(fade_ms: int = 96, held_ms: int = 640) -> OnsetTracker:
    return OnsetTracker(threshold=0.5, hysteresis=0.15, fade_ms=fade_ms, held_ms=held_ms)


def test_the_first_voiced_window_is_the_onset():
    events = run(tracker(), [0.1, 0.2, 0.9, 0.9])
    assert events == [(2, VoiceOnset(32))]


def test_the_voice_fades_after_the_fade_time_of_unvoiced_windows():
    events = run(tracker(fade_ms=96), [0.9, 0.9, 0.1, 0.1, 0.1, 0.1])
    assert [(i, type(e)) for i, e in events] == [(0, VoiceOnset), (4, VoiceFaded)]
    assert events[1][1].quiet_ms == 96


def test_ambiguous_windows_neither_fade_nor_count_as_voice():
    t = tracker(fade_ms=64, held_ms=96)
    events = run(t, [0.9] + [0.4] * 10 + [0.1, 0.1])
    assert [type(e) for _, e in events] == [VoiceOnset, VoiceFaded]


def test_a_short_dip_does_not_fade_and_the_voice_keeps_counting_to_held():
    t = tracker(fade_ms=96, held_ms=160)
    events = run(t, [0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9])
    assert [(i, type(e)) for i, e in events] == [(0, VoiceOnset), (6, VoiceHeld)]
    assert events[1][1].voiced_ms == 160


def test_held_is_reported_once_per_speech():
    t = tracker(fade_ms=64, held_ms=96)
    events = run(t, [0.9] * 5 + [0.1, 0.1] + [0.9] * 5, in_speech=True)
    kinds = [type(e) for _, e in events]
    assert kinds == [VoiceOnset, VoiceHeld, VoiceFaded, VoiceOnset]


def test_a_fade_outside_speech_starts_the_count_again():
    t = tracker(fade_ms=64, held_ms=128)
    events = run(t, [0.9, 0.9, 0.1, 0.1, 0.9, 0.9, 0.9])
    # 64 ms of voice, a fade, then 96 ms: never 128 ms since one onset.
    assert [type(e) for _, e in events] == [VoiceOnset, VoiceFaded, VoiceOnset]


def test_the_count_goes_on_across_a_fade_inside_speech_until_it_ends():
    t = tracker(fade_ms=64, held_ms=128)
    events = run(t, [0.9, 0.9, 0.1, 0.1, 0.9, 0.9], in_speech=True)
    assert [type(e) for _, e in events] == [VoiceOnset, VoiceFaded, VoiceOnset, VoiceHeld]
    t.speech_ended()
    assert run(t, [0.1, 0.1, 0.9, 0.9]) == [(1, VoiceFaded(64)), (2, VoiceOnset(32))]


def test_a_voice_that_lasted_like_a_sentence_waits_out_a_comma_before_it_fades():
    t = OnsetTracker(0.5, 0.15, fade_ms=96, held_ms=2000, long_fade_ms=400, long_voice_ms=288)
    comma = [0.1] * 5  # 160 ms, as eSpeak pauses at a comma
    events = run(t, [0.9] * 10 + comma + [0.9] * 3, in_speech=True)
    assert [type(e) for _, e in events] == [VoiceOnset]
    events = run(t, [0.1] * 13)
    assert [(i, type(e)) for i, e in events] == [(12, VoiceFaded)]  # 416 ms: the long fade


def test_a_short_voice_fades_after_the_short_fade():
    t = OnsetTracker(0.5, 0.15, fade_ms=96, held_ms=2000, long_fade_ms=400, long_voice_ms=288)
    events = run(t, [0.9] * 7 + [0.1] * 3)  # a 224 ms "hm"
    assert [(i, type(e)) for i, e in events] == [(0, VoiceOnset), (9, VoiceFaded)]
