import base64
import json

import pytest

from transports.twilio import protocol
from transports.twilio.protocol import Media, ProtocolError, Start


def start_message(**fmt) -> str:
    return json.dumps(
        {
            "event": "start",
            "start": {
                "streamSid": "MZ1",
                "callSid": "CA1",
                "accountSid": "AC1",
                "customParameters": {"k": "v"},
                "mediaFormat": {
                    "encoding": "audio/x-mulaw",
                    "sampleRate": 8000,
                    "channels": 1,
                    **fmt,
                },
            },
        }
    )


def test_start_carries_the_stream_and_custom_parameters():
    event = protocol.parse(start_message())
    assert isinstance(event, Start)
    assert (event.stream_sid, event.call_sid, event.custom_parameters) == ("MZ1", "CA1", {"k": "v"})


def test_media_decodes_its_payload():
    payload = base64.b64encode(b"\x01\x02").decode()
    event = protocol.parse(
        json.dumps(
            {"event": "media", "media": {"payload": payload, "chunk": "3", "timestamp": "40"}}
        )
    )
    assert event == Media(b"\x01\x02", 3, 40, "inbound")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("nope", "not_json"),
        ("[1, 2]", "malformed"),
        ('{"event": "warp"}', "unknown_event"),
        ('{"event": "media", "media": {"payload": "***"}}', "bad_base64"),
        ('{"event": "media", "media": {}}', "malformed"),
        ('{"event": "dtmf", "dtmf": {"digit": "12"}}', "malformed"),
        ("x" * 70_000, "oversized"),
        (start_message(sampleRate=16000), "unsupported"),
    ],
)
def test_bad_messages_raise_a_protocol_error_with_a_kind(text, kind):
    with pytest.raises(ProtocolError) as info:
        protocol.parse(text)
    assert info.value.kind == kind


def test_a_stream_sid_that_could_break_our_json_is_refused():
    message = json.loads(start_message())
    message["start"]["streamSid"] = 'MZ","event":"clear'
    with pytest.raises(ProtocolError):
        protocol.parse(json.dumps(message))


def test_outbound_messages_are_exactly_the_three_twilio_accepts():
    media = json.loads(protocol.media_message("MZ1", b"\xff\x7f"))
    assert media == {"event": "media", "streamSid": "MZ1", "media": {"payload": "/38="}}
    assert json.loads(protocol.mark_message("MZ1", "2:5")) == {
        "event": "mark",
        "streamSid": "MZ1",
        "mark": {"name": "2:5"},
    }
    assert json.loads(protocol.clear_message("MZ1")) == {"event": "clear", "streamSid": "MZ1"}
