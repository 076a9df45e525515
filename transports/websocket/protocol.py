"""sluice.browser v1 messages, parsed and built without any I/O.

The wire is specified in docs/browser-protocol.md; this module is its code.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from dataclasses import dataclass

from gateway.audio.frames import FRAME_BYTES, FRAME_MS, INTERNAL_RATE, AudioChunk
from transports.errors import ProtocolError, dispatch_json

PROTOCOL = "sluice.browser"
VERSION = 1
WIRE_RATE = INTERNAL_RATE
AUDIO_HEADER = struct.Struct("<II")
"""Server audio frames: turn id, offset of the frame in its turn (ms); then PCM16 LE."""
MAX_AUDIO_MS = 200
"""The most audio a client may ask for in one server message (hello's `audio_ms`)."""
MAX_TEXT_CHARS = 4096


@dataclass(frozen=True, slots=True)
class Hello:
    version: int
    token: str
    window_ms: int
    client_transport: str
    audio_ms: int = FRAME_MS
    """The most audio the client takes in one binary message: 20 ms unless it asks."""


@dataclass(frozen=True, slots=True)
class GrantMsg:
    ms: int
    epoch: int


@dataclass(frozen=True, slots=True)
class Played:
    turn: int
    position_ms: int


@dataclass(frozen=True, slots=True)
class Ping:
    t: float


@dataclass(frozen=True, slots=True)
class Bye:
    pass


ClientMessage = Hello | GrantMsg | Played | Ping | Bye


def _int(message: dict, key: str) -> int:
    value = message.get(key)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ProtocolError("malformed", f"'{key}' must be a whole number")
    return value


def _hello(m: dict) -> Hello:
    if m.get("protocol") != PROTOCOL:
        raise ProtocolError("malformed", f"hello must name protocol {PROTOCOL!r}")
    version = _int(m, "version")
    if version != VERSION:
        raise ProtocolError(
            "unsupported", f"protocol version {version}; this gateway speaks {VERSION}"
        )
    token = m.get("token", "")
    client = m.get("client") or {}
    if not isinstance(token, str) or not isinstance(client, dict):
        raise ProtocolError("malformed", "token must be a string and client an object")
    audio_ms = _int(m, "audio_ms") if "audio_ms" in m else FRAME_MS
    if not FRAME_MS <= audio_ms <= MAX_AUDIO_MS or audio_ms % FRAME_MS:
        raise ProtocolError(
            "malformed", f"audio_ms must be a multiple of {FRAME_MS} from {FRAME_MS} to "
            f"{MAX_AUDIO_MS}, got {audio_ms}",
        )  # fmt: skip
    transport = str(client.get("transport", ""))[:40]
    return Hello(version, token, _int(m, "window_ms"), transport, audio_ms)


def _grant(m: dict) -> GrantMsg:
    return GrantMsg(_int(m, "ms"), _int(m, "epoch"))


def _played(m: dict) -> Played:
    return Played(_int(m, "turn"), _int(m, "position_ms"))


def _ping(m: dict) -> Ping:
    t = m.get("t")
    if not isinstance(t, int | float) or isinstance(t, bool):
        raise ProtocolError("malformed", "'t' must be a number")
    return Ping(float(t))


_PARSERS: dict[str, Callable[[dict], ClientMessage]] = {
    "hello": _hello,
    "grant": _grant,
    "played": _played,
    "ping": _ping,
    "bye": lambda m: Bye(),
}


def parse_text(text: str) -> ClientMessage:
    return dispatch_json(text, MAX_TEXT_CHARS, "type", _PARSERS, "unknown_type")


def check_audio(frame: bytes) -> bytes:
    if len(frame) != FRAME_BYTES:
        raise ProtocolError(
            "bad_frame", f"audio frames are {FRAME_BYTES} bytes ({FRAME_MS} ms), got {len(frame)}"
        )
    return frame


def audio_frame(chunk: AudioChunk) -> bytes:
    return AUDIO_HEADER.pack(chunk.turn_id, chunk.offset_ms) + chunk.pcm


def parse_audio_frame(data: bytes) -> tuple[int, int, bytes]:
    """For clients: (turn id, offset ms, pcm)."""
    turn, offset = AUDIO_HEADER.unpack_from(data)
    return turn, offset, data[AUDIO_HEADER.size :]


def message(kind: str, **body: object) -> str:
    return json.dumps({"type": kind, **body}, separators=(",", ":"))


def welcome(call_id: str, window_ms: int, epoch: int, audio_ms: int = FRAME_MS) -> str:
    return message(
        "welcome",
        protocol=PROTOCOL,
        version=VERSION,
        call_id=call_id,
        sample_rate=WIRE_RATE,
        frame_ms=FRAME_MS,
        window_ms=window_ms,
        epoch=epoch,
        audio_ms=audio_ms,
    )


def clear(turn: int, epoch: int, heard_ms: int) -> str:
    return message("clear", turn=turn, epoch=epoch, heard_ms=heard_ms)


def error(code: str, detail: str, fatal: bool = False, **extra: object) -> str:
    return message("error", code=code, message=detail, fatal=fatal, **extra)
