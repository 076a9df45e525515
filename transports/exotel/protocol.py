"""Exotel AgentStream (the Voicebot applet) messages, parsed and built without I/O.

Exotel → app: `connected`, `start` (stream_sid, call_sid, media_format),
`media` (base64 16-bit little-endian PCM, about 100 ms a message), `dtmf`,
`mark` (echoed once the audio sent before it has played), `stop`. App →
Exotel: `media`, `mark`, `clear`. Exotel wants agent audio in messages of
3.2 KB to 100 KB, in multiples of 320 bytes: a short remainder is followed by
a 20 ms wait, an audible gap (see the carrier's chunking in __init__).
"""

from __future__ import annotations

import json

from gateway.audio.wire_format import WireFormat
from transports.errors import ProtocolError, dispatch_json
from transports.media_stream import fields
from transports.media_stream.events import (
    Audio,
    Digit,
    Noted,
    Played,
    Started,
    Stopped,
    StreamEvent,
)

MAX_MESSAGE_BYTES = 128 * 1024
"""Exotel's media messages are larger than most: up to a second of 24 kHz PCM."""
MAX_MEDIA_BYTES = 48_000
ENCODINGS = ("audio/x-raw", "raw", "slin", "audio/x-l16", "")


def _numbers(start: dict) -> dict[str, str]:
    """Exotel names the caller and the number called in the start itself."""
    return {k: start[k][:64] for k in ("from", "to") if isinstance(start.get(k), str)}


def _start(m: dict) -> Started:
    start = fields.obj(m, "start")
    fmt = start.get("media_format") or {}
    if not isinstance(fmt, dict):
        raise ProtocolError("malformed", "media_format must be an object")
    encoding = fields.text(fmt, "encoding", "audio/x-raw").lower()
    rate = fields.whole(fmt, "sample_rate", 8000)
    if encoding not in ENCODINGS or fields.whole(fmt, "bit_rate", 16) != 16:
        raise ProtocolError("unsupported", f"media format {encoding[:24]!r}")
    try:
        wire = WireFormat("l16", rate)
    except ValueError as exc:
        raise ProtocolError("unsupported", str(exc)) from None
    return Started(
        call_id=fields.ident(start, "call_sid"),
        stream_id=fields.ident(start, "stream_sid", m.get("stream_sid")),
        wire=wire,
        parameters={**fields.parameters(start.get("custom_parameters")), **_numbers(start)},
    )


_PARSERS = {
    "connected": lambda m: Noted("connected"),
    "start": _start,
    "media": lambda m: Audio(fields.payload(fields.obj(m, "media"), most=MAX_MEDIA_BYTES)),
    "dtmf": lambda m: Digit(fields.digit(fields.text(fields.obj(m, "dtmf"), "digit"))),
    "mark": lambda m: Played(fields.mark_name(fields.text(fields.obj(m, "mark"), "name"))),
    "stop": lambda m: Stopped("stream stopped"),
}


class ExotelDialect:
    def __init__(self, settings: object = None) -> None:
        self.stream_sid = ""

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            raise ProtocolError("binary_frame", "Exotel streams send JSON text frames")
        event = dispatch_json(message, MAX_MESSAGE_BYTES, "event", _PARSERS, "unknown_event")
        if isinstance(event, Started):
            self.stream_sid = event.stream_id
        return event

    def media(self, payload: bytes) -> str:
        return (
            f'{{"event":"media","stream_sid":"{self.stream_sid}",'
            f'"media":{{"payload":"{fields.b64(payload)}"}}}}'
        )

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "stream_sid": self.stream_sid, "mark": {"name": name}})

    def clear(self) -> str:
        return json.dumps({"event": "clear", "stream_sid": self.stream_sid})
