"""Word error rate: only words heard wrong, dropped or invented count."""

from __future__ import annotations

import pytest

from gateway.testing.wer import WordErrors, edit_distance, normalize, word_error_rate

pytestmark = pytest.mark.timeout(10)


def test_spelling_is_forgiven():
    assert normalize("Press 2, then #.") == ["press", "two", "then", "pound"]
    assert normalize("I'm here at 10:45") == ["i", "am", "here", "at", "ten", "forty", "five"]
    assert normalize("You cannot — OK?") == ["you", "can", "not", "okay"]
    assert normalize("1,250 calls") == ["one", "thousand", "two", "hundred", "fifty", "calls"]
    assert word_error_rate("Please press star.", "please press *") == 0.0


def test_hearing_is_not():
    assert edit_distance("a b c".split(), "a x c".split()) == 1  # substituted
    assert edit_distance("a b c".split(), "a c".split()) == 1  # dropped
    assert edit_distance("a b c".split(), "a b c d e".split()) == 2  # invented
    assert word_error_rate("tell me a story", "do we story") == 0.75


def test_the_rate_is_over_all_reference_words():
    errors = WordErrors()
    errors.add("one two three four", "one two three four")
    errors.add("five six", "five")
    assert (errors.errors, errors.words) == (1, 6)
    assert errors.rate == pytest.approx(1 / 6)
    assert WordErrors().rate == 0.0
