"""Checked reads of a JSON message's fields, shared by every JSON carrier's parser.

Each raises ProtocolError("malformed") for a field of the wrong shape, so a
parser states what it needs and never crashes on what a peer sent.
"""

from __future__ import annotations

import base64
import binascii
import re

from transports.errors import ProtocolError

ID = re.compile(r"[A-Za-z0-9_:.-]{1,128}")
"""Carrier ids: Twilio's SIDs, Telnyx's `v3:…`, UUIDs."""
MAX_MEDIA_BYTES = 32_000
"""One second of 16 kHz L16: the largest inbound payload any carrier sends."""
MAX_PARAMETERS = 32


def obj(message: dict, key: str) -> dict:
    value = message.get(key)
    if not isinstance(value, dict):
        raise ProtocolError("malformed", f"'{key}' must be an object")
    return value


def text(obj: dict, key: str, default: str | None = None) -> str:
    value = obj.get(key, default)
    if not isinstance(value, str):
        raise ProtocolError("malformed", f"'{key}' must be a string")
    return value


def ident(obj: dict, key: str, default: str | None = None) -> str:
    value = text(obj, key, default)
    if not ID.fullmatch(value):
        raise ProtocolError("malformed", f"'{key}' must be 1 to 128 letters, digits or _:.-")
    return value


def whole(obj: dict, key: str, default: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 9:
        return int(value)  # carriers send some numbers as strings
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**9:
        return value
    raise ProtocolError("malformed", f"'{key}' must be a whole number")


def parameters(value: object) -> dict[str, str]:
    """Custom parameters: a few short strings."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ProtocolError("malformed", "custom parameters must be an object")
    if len(value) > MAX_PARAMETERS or not all(
        isinstance(k, str) and isinstance(v, str) and len(k) + len(v) <= 1024
        for k, v in value.items()
    ):
        raise ProtocolError("malformed", "custom parameters must be a few short strings")
    return dict(value)


def payload(obj: dict, key: str = "payload", most: int = MAX_MEDIA_BYTES) -> bytes:
    """A base64 audio payload, refused as oversized before it is decoded."""
    encoded = text(obj, key)
    if len(encoded) > most * 4 // 3 + 4:
        raise ProtocolError("oversized", f"media payload of {len(encoded)} base64 characters")
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ProtocolError("bad_base64", str(exc)) from None
    if len(data) > most:
        raise ProtocolError("oversized", f"media payload of {len(data)} bytes")
    return data


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def digit(value: str) -> str:
    if len(value) != 1 or value not in "0123456789*#ABCD":
        raise ProtocolError("malformed", f"not a DTMF digit: {value[:8]!r}")
    return value


def mark_name(value: str) -> str:
    if len(value) > 64:
        raise ProtocolError("malformed", "mark names are short")
    return value
