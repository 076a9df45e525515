"""Twilio Media Streams messages, parsed and built without any I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

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

MULAW_8K = WireFormat("pcmu", 8000)

MAX_MESSAGE_BYTES = 64 * 1024
"""Twilio's inbound media is 160 bytes of μ-law; anything near this is hostile."""
MAX_MEDIA_BYTES = 8000
"""One second of 8 kHz μ-law: the largest inbound payload we accept."""


_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PARAMETERS = fields.MAX_PARAMETERS


@dataclass(frozen=True, slots=True)
class Connected:
    protocol: str


@dataclass(frozen=True, slots=True)
class Start:
    stream_sid: str
    call_sid: str
    account_sid: str
    custom_parameters: dict[str, str] = field(default_factory=dict)
    encoding: str = "audio/x-mulaw"
    sample_rate: int = 8000
    channels: int = 1


@dataclass(frozen=True, slots=True)
class Media:
    payload: bytes
    chunk: int
    timestamp_ms: int
    track: str


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    digit: str


@dataclass(frozen=True, slots=True)
class MarkEcho:
    name: str


@dataclass(frozen=True, slots=True)
class Stop:
    reason: str = ""


TwilioEvent = Connected | Start | Media | DtmfDigit | MarkEcho | Stop


def _parse_connected(m: dict) -> Connected:
    return Connected(protocol=str(m.get("protocol", "")))


def _parse_start(m: dict) -> Start:
    start = fields.obj(m, "start")
    fmt = start.get("mediaFormat") or {}
    if not isinstance(fmt, dict):
        raise ProtocolError("malformed", "mediaFormat must be an object")
    result = Start(
        stream_sid=fields.text(start, "streamSid", m.get("streamSid")),
        call_sid=fields.text(start, "callSid", ""),
        account_sid=fields.text(start, "accountSid", ""),
        custom_parameters=fields.parameters(start.get("customParameters")),
        encoding=fields.text(fmt, "encoding", "audio/x-mulaw"),
        sample_rate=fields.whole(fmt, "sampleRate", 8000),
        channels=fields.whole(fmt, "channels", 1),
    )
    if not _SID.fullmatch(result.stream_sid):
        raise ProtocolError("malformed", "streamSid must be 1 to 64 letters, digits, _ or -")
    if result.call_sid and not _SID.fullmatch(result.call_sid):
        raise ProtocolError("malformed", "callSid must be 1 to 64 letters, digits, _ or -")
    if (result.encoding, result.sample_rate, result.channels) != ("audio/x-mulaw", 8000, 1):
        raise ProtocolError("unsupported", f"media format {fmt!r}; only 8 kHz mono μ-law")
    return result


def _media_fields(m: dict) -> tuple[dict, bytes, int, int]:
    """A media message's object, payload, chunk and timestamp, each checked."""
    media = fields.obj(m, "media")
    payload = fields.payload(media, most=MAX_MEDIA_BYTES)
    return media, payload, fields.whole(media, "chunk", 0), fields.whole(media, "timestamp", 0)


def _parse_media(m: dict) -> Media:
    media, payload, chunk, timestamp = _media_fields(m)
    return Media(payload, chunk, timestamp, str(media.get("track", "inbound"))[:16])


def _parse_dtmf(m: dict) -> DtmfDigit:
    return DtmfDigit(fields.digit(fields.text(fields.obj(m, "dtmf"), "digit")))


def _parse_mark(m: dict) -> MarkEcho:
    return MarkEcho(fields.mark_name(fields.text(fields.obj(m, "mark"), "name")))


def _parse_stop(m: dict) -> Stop:
    return Stop(
        str((m.get("stop") or {}).get("reason", "")) if isinstance(m.get("stop"), dict) else ""
    )


_PARSERS: dict[str, Callable[[dict], TwilioEvent]] = {
    "connected": _parse_connected,
    "start": _parse_start,
    "media": _parse_media,
    "dtmf": _parse_dtmf,
    "mark": _parse_mark,
    "stop": _parse_stop,
}


def parse(text: str) -> TwilioEvent:
    """One text frame from Twilio to an event; raises ProtocolError with a kind."""
    return dispatch_json(text, MAX_MESSAGE_BYTES, "event", _PARSERS, "unknown_event")


def _caller_audio(m: dict) -> Audio:
    """A media message as the stream layer takes it: fifty a second per call,
    so no event in between, with the same checks as `_parse_media`."""
    return Audio(_media_fields(m)[1])


_STREAM_PARSERS: dict[str, Callable[[dict], TwilioEvent | Audio]] = {
    **_PARSERS,
    "media": _caller_audio,
}


def media_message(stream_sid: str, ulaw: bytes) -> str:
    payload = fields.b64(ulaw)
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})


class TwilioDialect:
    """Media Streams as the shared stream layer speaks it (SignalWire speaks it too)."""

    def __init__(self, settings: object = None) -> None:
        self.stream_sid = ""

    def parse(self, message: str | bytes) -> StreamEvent:
        if isinstance(message, bytes):
            raise ProtocolError("binary_frame", "binary frames are not part of Media Streams")
        event = dispatch_json(
            message, MAX_MESSAGE_BYTES, "event", _STREAM_PARSERS, "unknown_event"
        )  # fmt: skip
        if isinstance(event, Audio):
            return event
        if isinstance(event, MarkEcho):
            return Played(event.name)
        if isinstance(event, Start):
            self.stream_sid = event.stream_sid
            return Started(
                call_id=event.call_sid,
                stream_id=event.stream_sid,
                wire=MULAW_8K,
                token=event.custom_parameters.get(TOKEN_PARAMETER),
                parameters=event.custom_parameters,
            )
        if isinstance(event, DtmfDigit):
            return Digit(event.digit)
        if isinstance(event, Stop):
            return Stopped(event.reason)
        return Noted("connected")

    def media(self, payload: bytes) -> str:
        return media_message(self.stream_sid, payload)

    def mark(self, name: str) -> str:
        return mark_message(self.stream_sid, name)

    def clear(self) -> str:
        return clear_message(self.stream_sid)
