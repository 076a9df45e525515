"""Asterisk `chan_websocket` messages, parsed and built without I/O.

Asterisk dials the app's WebSocket. It sends `MEDIA_START` (connection id,
channel, format, optimal frame size) as text, the caller's audio as binary
frames, and text events: `MEDIA_XOFF` when its outbound queue passes 900
frames and `MEDIA_XON` once it falls below 800, `MEDIA_MARK_PROCESSED` when a
mark reaches the front of the queue (the audio before it has played),
`DTMF_END`, `STATUS`, `QUEUE_DRAINED`. A mark is reported as it leaves the
queue, on the tick after the frame before it was taken to be played: up to
one frame (20 ms) before that frame has finished playing. The heard position
may lead by that much; credit comes back a frame early, which the window's
size absorbs. Events are plain text (`NAME k:v …`)
or, with `f(json)`, JSON objects; replies use the same form.

App → Asterisk: binary audio, which Asterisk times itself, and text commands
of at most 128 bytes: `MARK_MEDIA`, `FLUSH_MEDIA`. A flush discards queued
frames and marks without a word, so no acknowledgement of a mark it dropped
ever comes; the flow core voids those marks at the clear. A message over
65,500 bytes hangs the call up, and audio sent while 1,000 frames are queued
is silently dropped: the transport holds audio between XOFF and XON.
"""

from __future__ import annotations

import json
import re

from gateway.audio.wire_format import WireFormat
from transports.errors import ProtocolError
from transports.media_stream import fields
from transports.media_stream.events import (
    Audio,
    Digit,
    Noted,
    Played,
    Started,
    StreamEvent,
    Watermark,
)

MAX_TEXT_CHARS = 8 * 1024
MAX_FRAME_BYTES = 65_500
FORMATS = {
    "ulaw": WireFormat("pcmu", 8000),
    "alaw": WireFormat("pcma", 8000),
    "slin": WireFormat("l16", 8000),
    "slin16": WireFormat("l16", 16000),
    "slin24": WireFormat("l16", 24000),
}
_PAIR = re.compile(r"([A-Za-z_]+):(\S*)")


def _fields(text: str) -> tuple[str, dict[str, str]]:
    """An event in either form: its name and its fields as strings."""
    if text.startswith("{"):
        try:
            value = json.loads(text)
        except (ValueError, RecursionError):
            raise ProtocolError("not_json", "a JSON event that does not parse") from None
        if not isinstance(value, dict) or not isinstance(value.get("event"), str):
            raise ProtocolError("malformed", "a JSON event needs a string 'event'")
        flat = {k: v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
        return value["event"], flat
    name, _, rest = text.strip().partition(" ")
    pairs = dict(_PAIR.findall(rest))
    if rest and not pairs:
        pairs["id"] = rest.strip()  # `MEDIA_MARK_PROCESSED <id>`
    return name, pairs


def _start(values: dict[str, str]) -> Started:
    fmt = FORMATS.get(values.get("format", ""))
    if fmt is None:
        # Opus, Speex and G.729 pass through untimed: the app would pace its
        # own frames and Asterisk disables its commands. Not supported here.
        raise ProtocolError("unsupported", f"format {values.get('format', '')[:16]!r}")
    stream_id = fields.ident(values, "connection_id")
    frame = values.get("optimal_frame_size", "")
    frame_bytes = int(frame) if frame.isascii() and frame.isdigit() and len(frame) < 6 else 0
    if frame_bytes and (frame_bytes % (fmt.bytes_per_ms * 10) or frame_bytes > 16_000):
        raise ProtocolError("unsupported", f"optimal_frame_size {frame_bytes}")
    return Started(
        # Older MEDIA_START lines name no channel_id: the connection stands for the call.
        call_id=fields.ident(values, "channel_id", stream_id),
        stream_id=stream_id,
        wire=fmt,
        frame_bytes=frame_bytes,
    )


class AsteriskDialect:
    def __init__(self, settings: object = None) -> None:
        self.json = False

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            if len(message) > MAX_FRAME_BYTES:
                raise ProtocolError("oversized", f"a binary frame of {len(message)} bytes")
            return Audio(message)
        if len(message) > MAX_TEXT_CHARS:
            raise ProtocolError("oversized", f"an event of {len(message)} characters")
        name, values = _fields(message)
        if name == "MEDIA_START":
            self.json = message.startswith("{")
            return _start(values)
        if name in ("MEDIA_XOFF", "MEDIA_XON"):
            return Watermark(full=name == "MEDIA_XOFF")
        if name == "MEDIA_MARK_PROCESSED":
            mark = values.get("correlation_id", values.get("id", ""))
            return Played(fields.mark_name(mark))
        if name == "DTMF_END":
            return Digit(fields.digit(values.get("digit", values.get("id", ""))))
        if name in ("STATUS", "QUEUE_DRAINED", "MEDIA_BUFFERING_COMPLETED", "ERROR"):
            return Noted(name.lower())
        raise ProtocolError("unknown_event", f"event {name[:40]!r}")

    def _command(self, name: str, correlation: str = "") -> str:
        if self.json:
            body = {"command": name, **({"correlation_id": correlation} if correlation else {})}
            return json.dumps(body)
        return f"{name} {correlation}".strip()

    def media(self, payload: bytes) -> bytes:
        return payload

    def mark(self, name: str) -> str:
        return self._command("MARK_MEDIA", name)

    def clear(self) -> str:
        return self._command("FLUSH_MEDIA")
