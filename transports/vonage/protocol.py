"""Vonage Voice API WebSocket messages, parsed and built without I/O.

Vonage → app: first a text `websocket:connected` carrying the content type and
the headers the NCCO set (the token among them); then binary 16-bit
little-endian PCM, one 20 ms frame a message; text `websocket:dtmf`,
`websocket:notify` (playback reached a notify: the audio before it played)
and `websocket:cleared`. App → Vonage: binary frames of exactly 20 ms,
`{"action":"notify"}` and `{"action":"clear"}`.

Vonage does not say what becomes of notifies queued behind a clear; the flow
core voids them at the clear either way, so a late one is ignored and a lost
one is never waited for.
"""

from __future__ import annotations

import json
import re

from gateway.audio.wire_format import WireFormat
from transports.errors import ProtocolError, dispatch_json
from transports.media_stream import fields
from transports.media_stream.events import Audio, Digit, Noted, Played, Started, StreamEvent
from transports.media_stream.tokens import TOKEN_PARAMETER

MAX_MESSAGE_BYTES = 16 * 1024
MAX_FRAME_BYTES = 4096
"""One 20 ms frame is 640 bytes at 16 kHz (960 at 24 kHz); anything larger is not Vonage."""
TOKEN_HEADER = TOKEN_PARAMETER
CALL_HEADER = "call_uuid"
_CONTENT_TYPE = re.compile(r"audio/l16;\s*rate=(8000|16000|24000)")


def _connected(m: dict) -> Started:
    kind = fields.text(m, "content-type")
    found = _CONTENT_TYPE.fullmatch(kind.strip().lower())
    if found is None:
        raise ProtocolError("unsupported", f"content-type {kind[:32]!r}")
    headers = {k: v for k, v in m.items() if isinstance(v, str) and k not in ("event",)}
    call = fields.ident(m, CALL_HEADER, "vonage")
    return Started(
        call_id=call,
        stream_id=call,
        wire=WireFormat("l16", int(found.group(1))),
        token=headers.get(TOKEN_HEADER),
        parameters=fields.parameters(headers),
    )


def _notify(m: dict) -> Played:
    return Played(fields.mark_name(fields.text(fields.obj(m, "payload"), "name")))


_PARSERS = {
    "websocket:connected": _connected,
    "websocket:dtmf": lambda m: Digit(fields.digit(fields.text(m, "digit"))),
    "websocket:notify": _notify,
    "websocket:cleared": lambda m: Noted("cleared"),
    "websocket:error": lambda m: Noted("error"),
}


class VonageDialect:
    def __init__(self, settings: object = None) -> None:
        pass

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            if len(message) > MAX_FRAME_BYTES:
                raise ProtocolError("oversized", f"a binary frame of {len(message)} bytes")
            return Audio(message)
        return dispatch_json(message, MAX_MESSAGE_BYTES, "event", _PARSERS, "unknown_event")

    def media(self, payload: bytes) -> bytes:
        return payload

    def mark(self, name: str) -> str:
        return json.dumps({"action": "notify", "payload": {"name": name}})

    def clear(self) -> str:
        return '{"action":"clear"}'
