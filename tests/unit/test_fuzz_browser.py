"""Property-based fuzzing of the browser protocol parser (sluice.browser).

Only ProtocolError may escape parse_text() and check_audio(), and a message
parse_text() returns has fields of the documented types.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gateway.audio.frames import FRAME_BYTES
from tests.unit.fuzz_material import (
    FAST,
    JSON_VALUES,
    check_hostile_inputs,
    check_nesting_sweep,
    dumped,
    mutated,
    single_replacements,
)
from transports.errors import ProtocolError
from transports.websocket import protocol as browser

pytestmark = pytest.mark.timeout(120)


HELLO: dict[str, Any] = {
    "type": "hello",
    "protocol": "sluice.browser",
    "version": 1,
    "token": "",
    "window_ms": 800,
    "audio_ms": 100,
    "client": {"transport": "x"},
}
BROWSER_BASES: list[dict[str, Any]] = [
    HELLO,
    {"type": "grant", "ms": 200, "epoch": 1},
    {"type": "played", "turn": 3, "position_ms": 1200},
    {"type": "ping", "t": 12.5},
    {"type": "bye"},
]


def browser_parse(text: str) -> browser.ClientMessage | None:
    try:
        message = browser.parse_text(text)
    except ProtocolError as exc:
        assert isinstance(exc.kind, str) and exc.kind
        return None

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if isinstance(message, browser.Hello):
        assert message.version == browser.VERSION
        assert isinstance(message.token, str) and whole(message.window_ms)
        assert isinstance(message.client_transport, str) and len(message.client_transport) <= 40
        assert whole(message.audio_ms) and message.audio_ms % 20 == 0
        assert 20 <= message.audio_ms <= browser.MAX_AUDIO_MS
    elif isinstance(message, browser.GrantMsg):
        assert whole(message.ms) and whole(message.epoch)
    elif isinstance(message, browser.Played):
        assert whole(message.turn) and whole(message.position_ms)
    elif isinstance(message, browser.Ping):
        assert isinstance(message.t, float)
    else:
        assert isinstance(message, browser.Bye)
    return message


@pytest.mark.parametrize("audio_ms", [0, 10, 30, 220, 1000, -20, True, "100", 100.0])
def test_a_hello_asking_for_an_audio_size_no_frame_fits_is_refused(audio_ms: object) -> None:
    with pytest.raises(ProtocolError) as refused:
        browser.parse_text(json.dumps({**HELLO, "audio_ms": audio_ms}))
    assert refused.value.kind == "malformed"


def test_a_hello_without_audio_ms_gets_one_frame_a_message() -> None:
    hello = {k: v for k, v in HELLO.items() if k != "audio_ms"}
    message = browser.parse_text(json.dumps(hello))
    assert isinstance(message, browser.Hello) and message.audio_ms == 20


def test_the_browser_seeds_are_valid() -> None:
    kinds = [type(browser.parse_text(json.dumps(m))).__name__ for m in BROWSER_BASES]
    assert kinds == ["Hello", "GrantMsg", "Played", "Ping", "Bye"]


@FAST
@given(st.text(max_size=2000))
@example("[" * 100_000)
def test_browser_arbitrary_text(text: str) -> None:
    browser_parse(text)


@FAST
@given(JSON_VALUES.flatmap(dumped))
def test_browser_arbitrary_json(text: str) -> None:
    browser_parse(text)


@FAST
@given(mutated(BROWSER_BASES))
def test_browser_mutated_messages(text: str) -> None:
    browser_parse(text)


@FAST
@given(st.sampled_from(BROWSER_BASES).flatmap(single_replacements))
def test_browser_messages_with_one_field_replaced(text: str) -> None:
    browser_parse(text)


def test_browser_deep_nesting_and_huge_numbers() -> None:
    check_hostile_inputs(
        browser_parse,
        ["1e999", "-1e999", "9" * 5000, "9" * 4000, "1" + "0" * 400, "-0"],
        [
            '{"type":"ping","t":@}',
            '{"type":"grant","ms":@,"epoch":1}',
            '{"type":"played","turn":1,"position_ms":@}',
            '{"type":"hello","protocol":"sluice.browser","version":@,"window_ms":1}',
            '{"type":"hello","protocol":"sluice.browser","version":1,"window_ms":@}',
            '{"type":@}',
        ],
        BROWSER_BASES,
    )


def test_browser_nesting_near_the_recursion_limit() -> None:
    check_nesting_sweep(
        browser_parse,
        [
            "@",
            '{"type":@}',
            '{"type":"hello","protocol":"sluice.browser","version":1,'
            '"window_ms":1,"client":{"transport":@}}',
            '{"type":"hello","protocol":@}',
        ],
    )


@FAST
@given(
    st.one_of(
        st.binary(max_size=2 * FRAME_BYTES),
        st.integers(FRAME_BYTES - 2, FRAME_BYTES + 2).map(bytes),
    )
)
def test_browser_audio_frames(frame: bytes) -> None:
    try:
        checked = browser.check_audio(frame)
    except ProtocolError as exc:
        assert exc.kind == "bad_frame" and len(frame) != FRAME_BYTES
    else:
        assert checked == frame and len(frame) == FRAME_BYTES
