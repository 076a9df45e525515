"""Property-based fuzzing of every carrier's parser (transports/<carrier>/protocol.py).

The seeds are the fake carriers' own messages (gateway/testing/far_ends.py),
so mutations start past each dialect's dispatch. Only ProtocolError may
escape parse(), and an event it returns has fields safe to use and to write
back into replies.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gateway.testing.far_ends import FAR_ENDS
from tests.unit.fuzz_material import FAST, JSON_VALUES, dumped, mutated
from transports.asterisk.protocol import AsteriskDialect
from transports.errors import ProtocolError
from transports.exotel.protocol import ExotelDialect
from transports.media_stream import fields
from transports.media_stream.events import Audio, Digit, Played, Started
from transports.plivo.protocol import PlivoDialect
from transports.telnyx.protocol import TelnyxDialect
from transports.vonage.protocol import VonageDialect

pytestmark = pytest.mark.timeout(120)

DIALECTS = {
    "telnyx": TelnyxDialect,
    "plivo": PlivoDialect,
    "vonage": VonageDialect,
    "exotel": ExotelDialect,
    "asterisk": AsteriskDialect,
}


def seeds(carrier: str) -> list[str | bytes]:
    far = FAR_ENDS[carrier](token="t0k3n")
    found = [*far.opening(), far.mic(far.wire.silence(far.wire.frame_bytes)), far.ack("2:7")]
    found += [m for m in (far.cleared(), far.closing()) if m is not None]
    return found


def json_seeds(carrier: str) -> list[dict[str, Any]]:
    return [json.loads(s) for s in seeds(carrier) if isinstance(s, str) and s.startswith("{")]


def parse(carrier: str, message: str | bytes):
    """parse(), held to its contract: a sane event, or ProtocolError with a kind."""
    try:
        event = DIALECTS[carrier]().parse(message)
    except ProtocolError as exc:
        assert isinstance(exc.kind, str) and exc.kind
        return None
    if isinstance(event, Started):
        # Ids are written back into replies unescaped: they must stay tame.
        assert fields.ID.fullmatch(event.stream_id) and fields.ID.fullmatch(event.call_id)
        assert len(event.parameters) <= fields.MAX_PARAMETERS
    elif isinstance(event, Audio):
        assert isinstance(event.payload, bytes) and len(event.payload) <= 65_500
    elif isinstance(event, Played):
        assert isinstance(event.name, str) and len(event.name) <= 64
    elif isinstance(event, Digit):
        assert len(event.digit) == 1 and event.digit in "0123456789*#ABCD"
    return event


@pytest.mark.parametrize("carrier", DIALECTS)
def test_the_fake_carriers_messages_are_understood(carrier: str) -> None:
    events = [parse(carrier, s) for s in seeds(carrier)]
    assert all(e is not None for e in events), list(zip(seeds(carrier), events, strict=True))
    assert any(isinstance(e, Started) for e in events)
    assert any(isinstance(e, Played) and e.name == "2:7" for e in events)
    started = next(e for e in events if isinstance(e, Started))
    if carrier not in ("exotel", "asterisk"):  # those prove themselves with ?token=
        assert started.token == "t0k3n"


@pytest.mark.parametrize("carrier", DIALECTS)
@FAST
@given(text=st.text(max_size=600))
def test_arbitrary_text(carrier: str, text: str) -> None:
    parse(carrier, text)


@pytest.mark.parametrize("carrier", DIALECTS)
@FAST
@given(data=st.binary(max_size=70_000))
def test_arbitrary_binary(carrier: str, data: bytes) -> None:
    parse(carrier, data)


@pytest.mark.parametrize("carrier", [c for c in DIALECTS if c != "asterisk"])
@FAST
@given(data=st.data())
def test_mutated_messages(carrier: str, data: st.DataObject) -> None:
    parse(carrier, data.draw(mutated(json_seeds(carrier))))


@pytest.mark.parametrize("carrier", [c for c in DIALECTS if c != "asterisk"])
@FAST
@given(value=JSON_VALUES.flatmap(dumped))
def test_arbitrary_json(carrier: str, value: str) -> None:
    parse(carrier, value)


@FAST
@given(
    name=st.sampled_from(
        ["MEDIA_START", "MEDIA_XOFF", "MEDIA_XON", "MEDIA_MARK_PROCESSED", "DTMF_END", "STATUS"]
    ),
    rest=st.lists(
        st.tuples(st.sampled_from(["connection_id", "channel_id", "format", "digit",
                                   "correlation_id", "id", "x"]), st.text(max_size=40)),
        max_size=6,
    ),
)  # fmt: skip
def test_asterisk_events_with_arbitrary_fields(name: str, rest: list[tuple[str, str]]) -> None:
    parse("asterisk", name + "".join(f" {k}:{v}" for k, v in rest))
    parse("asterisk", json.dumps({"event": name, **dict(rest)}))
