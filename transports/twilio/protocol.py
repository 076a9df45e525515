"""Twilio Media Streams messages, parsed and built without any I/O."""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from transports.errors import ProtocolError, dispatch_json

MAX_MESSAGE_BYTES = 64 * 1024
"""Twilio's inbound media is 160 bytes of μ-law; anything near this is hostile."""
MAX_MEDIA_BYTES = 8000
"""One second of 8 kHz μ-law: the largest inbound payload we accept."""


_SID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_PARAMETERS = 32


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


def _obj(message: dict, key: str) -> dict:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError("malformed", f"'{key}' must be an object")
    return value


def _str(obj: dict, key: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError("malformed", f"'{key}' must be a string")
    return value


def _whole(obj: dict, key: str, default: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, str) and value.isdigit() and len(value) <= 9:
        return int(value)  # Twilio sends some numbers as strings
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    raise ProtocolError("malformed", f"'{key}' must be a whole number")


def _parse_connected(m: dict) -> Connected:
    return Connected(protocol=str(m.get("protocol", "")))


def _parse_start(m: dict) -> Start:
    start = _obj(m, "start")
    fmt = start.get("mediaFormat") or {}
    params = start.get("customParameters") or {}
    if not isinstance(fmt, dict) or not isinstance(params, dict):
        raise ProtocolError("malformed", "mediaFormat and customParameters must be objects")
    if len(params) > MAX_PARAMETERS or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= 1024
        for k, v in params.items()
    ):
        raise ProtocolError("malformed", "customParameters must be a few short strings")
    result = Start(
        stream_sid=_str(start, "streamSid", m.get("streamSid")),
        call_sid=_str(start, "callSid", ""),
        account_sid=_str(start, "accountSid", ""),
        custom_parameters=dict(params),
        encoding=_str(fmt, "encoding", "audio/x-mulaw"),
        sample_rate=_whole(fmt, "sampleRate", 8000),
        channels=_whole(fmt, "channels", 1),
    )
    if not _SID.fullmatch(result.stream_sid):
        raise ProtocolError("malformed", "streamSid must be 1 to 64 letters, digits, _ or -")
    if result.call_sid and not _SID.fullmatch(result.call_sid):
        raise ProtocolError("malformed", "callSid must be 1 to 64 letters, digits, _ or -")
    if (result.encoding, result.sample_rate, result.channels) != ("audio/x-mulaw", 8000, 1):
        raise ProtocolError("unsupported", f"media format {fmt!r}; only 8 kHz mono μ-law")
    return result


def _parse_media(m: dict) -> Media:
    media = _obj(m, "media")
    encoded = _str(media, "payload")
    if len(encoded) > MAX_MEDIA_BYTES * 4 // 3 + 4:
        raise ProtocolError("oversized", f"media payload of {len(encoded)} base64 characters")
    try:
        payload = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("bad_base64", str(exc)) from None
    if len(payload) > MAX_MEDIA_BYTES:
        raise ProtocolError("oversized", f"media payload of {len(payload)} bytes")
    chunk = _whole(media, "chunk", 0)
    timestamp = _whole(media, "timestamp", 0)
    return Media(payload, chunk, timestamp, str(media.get("track", "inbound"))[:16])


def _parse_dtmf(m: dict) -> DtmfDigit:
    digit = _str(_obj(m, "dtmf"), "digit")
    if len(digit) != 1 or digit not in "0123456789*#ABCD":
        raise ProtocolError("malformed", f"not a DTMF digit: {digit[:8]!r}")
    return DtmfDigit(digit)


def _parse_mark(m: dict) -> MarkEcho:
    name = _str(_obj(m, "mark"), "name")
    if len(name) > 64:
        raise ProtocolError("malformed", "mark names are short")
    return MarkEcho(name)


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


def media_message(stream_sid: str, ulaw: bytes) -> str:
    payload = base64.b64encode(ulaw).decode("ascii")
    return f'{{"event":"media","streamSid":"{stream_sid}","media":{{"payload":"{payload}"}}}}'


def mark_message(stream_sid: str, name: str) -> str:
    return json.dumps({"event": "mark", "streamSid": stream_sid, "mark": {"name": name}})


def clear_message(stream_sid: str) -> str:
    return json.dumps({"event": "clear", "streamSid": stream_sid})
