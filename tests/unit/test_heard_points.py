"""The measures the comparison takes from a page's timeline of audio heard."""

from __future__ import annotations

from gateway.compare.heard_points import growth, heard_ms, resumed_at, span_s, talk_over_s


def timeline(*spells: tuple[float, float], step: float = 0.048) -> list[tuple[float, float]]:
    """The page's meter reporting every `step` s (stamped at the report's end),
    hearing audio during each (start, end): it counts what of the interval
    was voiced."""
    points, heard, t = [], 0.0, 0.0
    while t < 10.0:
        heard += sum(max(0.0, min(t, end) - max(t - step, start)) for start, end in spells) * 1000
        points.append((round(t, 3), heard))
        t += step
    return points


STEP = 0.048
"""A report interval: an instant read off the timeline is late by up to one."""
GREETING = timeline((1.0, 2.0), (2.05, 2.5), (2.9, 4.0))
"""A greeting with a 50 ms word gap and, from 2.5 s, a 400 ms pause."""


def test_growth_is_where_the_count_rose() -> None:
    grew = growth(GREETING)
    assert 1.0 < grew[0] <= 1.0 + STEP and 4.0 <= grew[-1] <= 4.0 + STEP
    assert not [t for t in grew if 2.5 + STEP < t <= 2.9]


def test_talk_over_runs_through_a_word_gap_and_stops_at_the_pause() -> None:
    talk = talk_over_s(GREETING, onset=1.8, until=5.0)
    assert 0.7 <= talk <= 0.7 + STEP, talk  # heard until 2.5, through the gap at 2.0


def test_talk_over_is_cut_where_the_listener_stopped_listening() -> None:
    assert 0.4 - STEP <= talk_over_s(GREETING, onset=1.8, until=2.2) <= 0.4


def test_talk_over_is_nothing_when_the_onset_falls_in_a_long_quiet() -> None:
    assert talk_over_s(GREETING, onset=2.6, until=5.0) == 0.0


def test_the_pause_ends_where_audio_is_heard_again() -> None:
    again = resumed_at(GREETING, 2.5 + STEP)
    assert again is not None and 2.9 < again <= 2.9 + STEP
    assert resumed_at(GREETING, 4.1) is None


def test_span_and_heard_tell_a_pause_from_audio_lost() -> None:
    plain = timeline((1.0, 3.5))
    paused = timeline((1.0, 2.0), (2.4, 3.9))  # the same audio, 400 ms later
    cut = timeline((1.0, 2.0), (2.4, 3.6))  # 300 ms of it never heard
    assert abs(span_s(paused) - span_s(plain) - 0.4) < STEP
    assert abs(heard_ms(plain) - heard_ms(paused)) < 20
    lost = heard_ms(plain) - heard_ms(cut)
    assert abs(lost - 300) < 35  # two spells: a report interval each
    # The pause is what the span grew by, plus what was lost.
    assert abs((span_s(cut) - span_s(plain)) * 1000 + lost - 400) < 50
