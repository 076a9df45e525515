"""Property-based fuzzing of the Twilio Media Streams parser (transports.twilio.protocol).

Only ProtocolError may escape parse(), and an event it returns has sane fields.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

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
from transports.media_stream.events import Audio
from transports.twilio import protocol as twilio

pytestmark = pytest.mark.timeout(120)


START: dict[str, Any] = {  # as tests/integration/test_twilio_bad_input.py START
    "event": "start",
    "sequenceNumber": "2",
    "streamSid": "MZbad",
    "start": {
        "accountSid": "AC1",
        "callSid": "CA1",
        "streamSid": "MZbad",
        "tracks": ["inbound"],
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}
MEDIA: dict[str, Any] = {
    "event": "media",
    "sequenceNumber": "3",
    "streamSid": "MZbad",
    "media": {
        "track": "inbound",
        "chunk": "1",
        "timestamp": "5",
        "payload": base64.b64encode(b"\xff" * 160).decode(),
    },
}
TWILIO_BASES: list[dict[str, Any]] = [
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    START,
    MEDIA,
    {"event": "mark", "sequenceNumber": "4", "streamSid": "MZbad", "mark": {"name": "turn-1"}},
    {
        "event": "dtmf",
        "sequenceNumber": "5",
        "streamSid": "MZbad",
        "dtmf": {"track": "inbound_track", "digit": "1"},
    },
    {
        "event": "stop",
        "sequenceNumber": "6",
        "streamSid": "MZbad",
        "stop": {"accountSid": "AC1", "callSid": "CA1"},
    },
]
SID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def twilio_parse(text: str) -> twilio.TwilioEvent | None:
    """parse(), holding it to its contract: an event with sane fields, or ProtocolError;
    and the stream layer's own parser (the dialect, with its media fast path)
    refusing exactly what parse() refuses."""
    try:
        event = twilio.parse(text)
    except ProtocolError as exc:
        assert isinstance(exc.kind, str) and exc.kind
        with pytest.raises(ProtocolError):
            twilio.TwilioDialect().parse(text)
        return None
    streamed = twilio.TwilioDialect().parse(text)
    if isinstance(event, twilio.Media):
        assert isinstance(streamed, Audio) and streamed.payload == event.payload
    assert isinstance(event, twilio.TwilioEvent)
    if isinstance(event, twilio.Start):
        # media_message() writes the sid into every reply frame unescaped: it must stay tame.
        assert SID.fullmatch(event.stream_sid), event.stream_sid
        assert event.call_sid == "" or SID.fullmatch(event.call_sid)
        assert len(event.custom_parameters) <= twilio.MAX_PARAMETERS
        assert all(
            isinstance(k, str) and isinstance(v, str) for k, v in event.custom_parameters.items()
        )
        assert (event.encoding, event.sample_rate, event.channels) == ("audio/x-mulaw", 8000, 1)
    elif isinstance(event, twilio.Media):
        assert isinstance(event.payload, bytes)
        size = len(event.payload)  # MAX_MEDIA_BYTES: "the largest inbound payload we accept"
        assert size <= twilio.MAX_MEDIA_BYTES, f"a media payload of {size} bytes"
        assert 0 <= event.chunk < 10**9 and 0 <= event.timestamp_ms < 10**9
        assert isinstance(event.track, str) and len(event.track) <= 16
    elif isinstance(event, twilio.DtmfDigit):
        assert len(event.digit) == 1 and event.digit in "0123456789*#ABCD"
    elif isinstance(event, twilio.MarkEcho):
        assert isinstance(event.name, str) and len(event.name) <= 64
    elif isinstance(event, twilio.Stop):
        assert isinstance(event.reason, str)
    return event


def test_the_twilio_seeds_are_valid() -> None:
    """Mutations start from valid messages, or they fuzz only the first check."""
    kinds = [type(twilio.parse(json.dumps(m))).__name__ for m in TWILIO_BASES]
    assert kinds == ["Connected", "Start", "Media", "MarkEcho", "DtmfDigit", "Stop"]


@FAST
@given(st.text(max_size=2000))
@example("[" * 100_000)
@example('{"event":"media","media":{"payload":"' + "A" * 70_000 + '"}}')
def test_twilio_arbitrary_text(text: str) -> None:
    twilio_parse(text)


@FAST
@given(JSON_VALUES.flatmap(dumped))
def test_twilio_arbitrary_json(text: str) -> None:
    twilio_parse(text)


@FAST
@given(
    st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6),
    st.sampled_from([m["event"] for m in TWILIO_BASES] + ["clear", "", "START"]),
)
def test_twilio_arbitrary_objects_with_a_known_event(body: dict, event: str) -> None:
    twilio_parse(json.dumps({**body, "event": event}))


@FAST
@given(mutated(TWILIO_BASES))
def test_twilio_mutated_messages(text: str) -> None:
    twilio_parse(text)


@FAST
@given(single_replacements(START))
def test_twilio_start_with_one_field_replaced(text: str) -> None:
    twilio_parse(text)


@dataclass(frozen=True)
class Payload:
    """A base64 media payload, described briefly: a failing example then prints as
    `Payload(head=b'', filler=8001, ...)`, not as 10,000 characters of base64."""

    head: bytes
    filler: int
    """Bytes of a fixed pattern after `head`: sizes near the limit without drawing them."""
    alphabet: str = "standard"
    strip_padding: bool = False
    junk: str = ""
    junk_at: int = 0

    def text(self) -> str:
        raw = self.head + (bytes(range(256)) * (self.filler // 256 + 1))[: self.filler]
        encode = base64.urlsafe_b64encode if self.alphabet == "urlsafe" else base64.b64encode
        encoded = encode(raw).decode()
        if self.strip_padding:
            encoded = encoded.rstrip("=")
        return encoded[: self.junk_at] + self.junk + encoded[self.junk_at :]


# Sizes around the one-second limit: a payload one byte over must not pass.
_PAYLOADS = st.one_of(
    st.builds(
        Payload,
        head=st.binary(max_size=200),
        filler=st.one_of(st.just(0), st.integers(7990, 8010), st.integers(0, 12_000)),
        alphabet=st.sampled_from(["standard", "urlsafe"]),
        strip_padding=st.booleans(),
        junk=st.one_of(st.just(""), st.text(max_size=3)),
        junk_at=st.integers(0, 50),
    ),
    st.text(max_size=100),
    JSON_VALUES,
)
_COUNTERS = st.one_of(
    st.integers(),
    st.integers(-2, 10**9 + 2),
    st.integers(0, 10**12).map(str),
    st.sampled_from(["", "-1", "+1", " 1", "1 ", "0x10", "1e3", "²", "١٢", "٣" * 9, "0" * 10]),
    st.floats(allow_nan=True, allow_infinity=True),
    JSON_VALUES,
)


class _Missing:
    """A field left out of the message (None is a JSON value of its own)."""

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()


@FAST
@given(
    payload=_PAYLOADS,
    chunk=st.one_of(st.just(_MISSING), _COUNTERS),
    timestamp=st.one_of(st.just(_MISSING), _COUNTERS),
    track=st.one_of(st.just(_MISSING), JSON_VALUES),
)
@example(payload=Payload(head=b"", filler=8001), chunk="1", timestamp="1", track="in")
def test_twilio_media_fields(payload: Any, chunk: Any, timestamp: Any, track: Any) -> None:
    if isinstance(payload, Payload):
        payload = payload.text()
    media = {"payload": payload, "chunk": chunk, "timestamp": timestamp, "track": track}
    message = {
        "event": "media",
        "streamSid": "MZbad",
        "media": {k: v for k, v in media.items() if v is not _MISSING},
    }
    twilio_parse(json.dumps(message))


@FAST
@given(
    name=st.one_of(st.text(max_size=80), JSON_VALUES),
    digit=st.one_of(st.text(max_size=3), JSON_VALUES),
    reason=JSON_VALUES,
    protocol=JSON_VALUES,
)
def test_twilio_mark_dtmf_stop_connected_fields(
    name: Any, digit: Any, reason: Any, protocol: Any
) -> None:
    twilio_parse(json.dumps({"event": "mark", "mark": {"name": name}}))
    twilio_parse(json.dumps({"event": "dtmf", "dtmf": {"digit": digit}}))
    twilio_parse(json.dumps({"event": "stop", "stop": {"reason": reason}}))
    twilio_parse(json.dumps({"event": "stop", "stop": reason}))
    twilio_parse(json.dumps({"event": "connected", "protocol": protocol}))


def test_twilio_deep_nesting_and_huge_numbers() -> None:
    check_hostile_inputs(
        twilio_parse,
        ["1e999", "-1e999", "9" * 5000, "9" * 4000, "1" + "0" * 300, "-0", "1.0"],
        [
            '{"event":"media","media":{"payload":"","chunk":@}}',
            '{"event":"media","media":{"payload":"","timestamp":@}}',
            '{"event":"start","start":{"streamSid":"MZ1","mediaFormat":{"sampleRate":@}}}',
            '{"event":"start","start":{"streamSid":"MZ1","mediaFormat":{"channels":@}}}',
            '{"event":@}',
            '{"event":"connected","protocol":@}',
            '{"event":"media","media":{"payload":"","track":@}}',
        ],
        TWILIO_BASES,
    )


def test_twilio_nesting_near_the_recursion_limit() -> None:
    check_nesting_sweep(
        twilio_parse,
        [
            "@",
            '{"event":@}',
            '{"event":"connected","protocol":@}',
            '{"event":"media","media":{"payload":"","track":@}}',
            '{"event":"stop","stop":{"reason":@}}',
            '{"event":"start","start":{"streamSid":"MZ1","customParameters":@}}',
        ],
    )
