from gateway.pipeline.segmenter import SpeechEnded, SpeechSegmenter, SpeechStarted, VadSettings

WINDOW = 32.0


def run(segmenter, probabilities):
    return [(i, e) for i, p in enumerate(probabilities) if (e := segmenter.push(p, WINDOW))]


def test_speech_starts_only_after_the_minimum_voiced_run():
    seg = SpeechSegmenter(VadSettings(min_speech_ms=160))
    events = run(seg, [0.9] * 4 + [0.9])
    assert [(i, type(e)) for i, e in events] == [(4, SpeechStarted)]
    assert events[0][1].voiced_ms_before == 160


def test_a_short_blip_does_not_start_speech():
    seg = SpeechSegmenter(VadSettings(min_speech_ms=160))
    assert run(seg, [0.9, 0.9, 0.1, 0.9, 0.9, 0.1] * 5) == []


def test_speech_ends_after_the_minimum_silence_with_hysteresis():
    seg = SpeechSegmenter(VadSettings(min_speech_ms=64, min_silence_ms=320))
    # 0.4 is between the thresholds: it neither ends speech nor counts as silence.
    events = run(seg, [0.9, 0.9] + [0.4] * 20 + [0.1] * 10)
    kinds = [(i, type(e)) for i, e in events]
    assert kinds == [(1, SpeechStarted), (31, SpeechEnded)]


def test_an_utterance_is_cut_at_the_maximum_length():
    seg = SpeechSegmenter(VadSettings(min_speech_ms=64, max_utterance_ms=1000))
    events = run(seg, [0.9] * 40)
    assert [type(e) for _, e in events][:2] == [SpeechStarted, SpeechEnded]
    assert events[1][1].speech_ms == 1024  # the first window at or past 1000 ms
