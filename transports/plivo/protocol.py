"""Plivo audio streaming messages, parsed and built without I/O.

Plivo → app: `start` (callId, streamId, mediaFormat, extra_headers), `media`,
`dtmf`, `playedStream` (a checkpoint was reached: everything queued before
it played), `clearedAudio`. App → Plivo: `playAudio`, `checkpoint`,
`clearAudio`. The stream's end is reported to a status callback, not on the
socket: the socket just closes.

A checkpoint is acknowledged only if the audio before it played, so one that
is pending when `clearAudio` runs never comes back. The flow core voids every
pending point at a clear and returns their credit then; nothing waits for
those acknowledgements.
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
    StreamEvent,
)
from transports.media_stream.tokens import TOKEN_PARAMETER

MAX_MESSAGE_BYTES = 64 * 1024
TOKEN_HEADER = TOKEN_PARAMETER
CONTENT_TYPES = {
    "audio/x-mulaw;rate=8000": WireFormat("pcmu", 8000),
    "audio/x-l16;rate=8000": WireFormat("l16", 8000),
    "audio/x-l16;rate=16000": WireFormat("l16", 16000),
}


def extra_headers(value: object) -> dict[str, str]:
    """`extraHeaders` come back as an object, or as the `k=v,k=v` text they were set as."""
    if isinstance(value, str):
        try:
            decoded = json.loads(value) if value.startswith("{") else None
        except ValueError:
            decoded = None
        if decoded is None:
            pairs = (p.split("=", 1) for p in value.split(",") if "=" in p)
            decoded = {k.strip(): v.strip() for k, v in pairs}
        value = decoded
    return fields.parameters(value)


def _wire(fmt: dict) -> WireFormat:
    encoding = fields.text(fmt, "encoding").lower()
    rate = fields.whole(fmt, "sampleRate", 8000)
    found = CONTENT_TYPES.get(f"{encoding};rate={rate}")
    if found is None:
        raise ProtocolError("unsupported", f"media format {encoding[:24]!r} at {rate}")
    return found


def _start(m: dict) -> Started:
    start = fields.obj(m, "start")
    headers = extra_headers(m.get("extra_headers", start.get("extra_headers")))
    return Started(
        call_id=fields.ident(start, "callId"),
        stream_id=fields.ident(start, "streamId"),
        wire=_wire(fields.obj(start, "mediaFormat")),
        token=headers.get(TOKEN_HEADER),
        parameters=headers,
    )


_PARSERS = {
    "start": _start,
    "media": lambda m: Audio(fields.payload(fields.obj(m, "media"))),
    "dtmf": lambda m: Digit(fields.digit(fields.text(fields.obj(m, "dtmf"), "digit"))),
    "playedStream": lambda m: Played(fields.mark_name(fields.text(m, "name"))),
    "clearedAudio": lambda m: Noted("cleared"),
}


class PlivoDialect:
    def __init__(self, settings: object = None) -> None:
        self.stream_id = ""
        self.content_type = "audio/x-mulaw"
        self.rate = 8000

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            raise ProtocolError("binary_frame", "Plivo streams send JSON text frames")
        event = dispatch_json(message, MAX_MESSAGE_BYTES, "event", _PARSERS, "unknown_event")
        if isinstance(event, Started):
            self.stream_id = event.stream_id
            self.rate = event.wire.rate
            self.content_type = "audio/x-mulaw" if event.wire.encoding == "pcmu" else "audio/x-l16"
        return event

    def media(self, payload: bytes) -> str:
        return (
            f'{{"event":"playAudio","media":{{"contentType":"{self.content_type}",'
            f'"sampleRate":{self.rate},"payload":"{fields.b64(payload)}"}}}}'
        )

    def mark(self, name: str) -> str:
        return json.dumps({"event": "checkpoint", "streamId": self.stream_id, "name": name})

    def clear(self) -> str:
        return json.dumps({"event": "clearAudio", "streamId": self.stream_id})
