"""Telnyx media streaming messages, parsed and built without I/O.

Telnyx → app: `connected`, `start` (call_control_id, media_format,
custom_parameters), `media` (base64 RTP payload), `dtmf`, `mark` (echoed
once the audio before it has played; at once if nothing is queued), `error`,
`stop`. App → Telnyx: `media`, `mark`, `clear`. A clear stops playback and
sends back every mark still queued: those echoes name voided marks, which
the flow core ignores.
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
from transports.media_stream.tokens import TOKEN_PARAMETER

MAX_MESSAGE_BYTES = 64 * 1024
ENCODINGS = {"PCMU": "pcmu", "PCMA": "pcma", "L16": "l16"}


def wire_format(codec: str, rate: int) -> WireFormat:
    encoding = ENCODINGS.get(codec.upper())
    if encoding is None:
        raise ProtocolError("unsupported", f"media format {codec[:16]!r}")
    # L16 on Telnyx is the RTP payload: network byte order.
    return WireFormat(encoding, rate, big_endian=encoding == "l16")  # type: ignore[arg-type]


def _start(m: dict) -> Started:
    start = fields.obj(m, "start")
    fmt = fields.obj(start, "media_format")
    params = fields.parameters(start.get("custom_parameters"))
    try:
        wire = wire_format(fields.text(fmt, "encoding"), fields.whole(fmt, "sample_rate", 8000))
    except ValueError as exc:
        raise ProtocolError("unsupported", str(exc)) from None
    if fields.whole(fmt, "channels", 1) != 1:
        raise ProtocolError("unsupported", "only mono")
    return Started(
        call_id=fields.ident(start, "call_control_id"),
        stream_id=fields.ident(m, "stream_id", "telnyx"),
        wire=wire,
        token=params.get(TOKEN_PARAMETER),
        parameters=params,
    )


def _media(m: dict) -> StreamEvent:
    media = fields.obj(m, "media")
    payload = fields.payload(media)
    if str(media.get("track", "inbound")).startswith("outbound"):
        return Noted("outbound media")  # an echo of our own audio: not the caller
    return Audio(payload)


def _error(m: dict) -> Noted:
    body = m.get("payload")
    detail = body if isinstance(body, dict) else {}
    return Noted(f"error {str(detail.get('code', ''))[:12]}: {str(detail.get('title', ''))[:80]}")


_PARSERS = {
    "connected": lambda m: Noted("connected"),
    "start": _start,
    "media": _media,
    "mark": lambda m: Played(fields.mark_name(fields.text(fields.obj(m, "mark"), "name"))),
    "dtmf": lambda m: Digit(fields.digit(fields.text(fields.obj(m, "dtmf"), "digit"))),
    "error": _error,
    "stop": lambda m: Stopped("stream stopped"),
}


class TelnyxDialect:
    def __init__(self, settings: object = None) -> None:
        pass

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            raise ProtocolError("binary_frame", "Telnyx streams send JSON text frames")
        return dispatch_json(message, MAX_MESSAGE_BYTES, "event", _PARSERS, "unknown_event")

    def media(self, payload: bytes) -> str:
        return f'{{"event":"media","media":{{"payload":"{fields.b64(payload)}"}}}}'

    def mark(self, name: str) -> str:
        return json.dumps({"event": "mark", "mark": {"name": name}})

    def clear(self) -> str:
        return '{"event":"clear"}'
