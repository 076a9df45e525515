"""Telnyx's answer: the Ed25519 webhook signature and the TeXML that connects
a bidirectional RTP-mode stream (without `bidirectionalMode="rtp"` Telnyx
expects MP3 and the stream is one second per message)."""

from __future__ import annotations

import base64
import binascii
import time
from xml.sax.saxutils import quoteattr

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.runtime.config import Settings
from transports.media_stream.answer import Answer, Signed
from transports.telnyx.protocol import TOKEN_PARAMETER

RATES = {"PCMU": 8000, "PCMA": 8000}


def signature_valid(public_key: str, request: Signed, tolerance_s: float, now: float) -> bool:
    """`telnyx-signature-ed25519` signs `timestamp|body` with the account's key;
    a timestamp outside the tolerance is a replay."""
    stamp = request.headers.get("telnyx-timestamp", "")
    signature = request.headers.get("telnyx-signature-ed25519", "")
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return False
    if abs(now - int(stamp)) > tolerance_s:
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(base64.b64decode(public_key))
        key.verify(base64.b64decode(signature, validate=True), stamp.encode() + b"|" + request.body)
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def verify(public_key: str, request: Signed, settings: Settings) -> bool:
    return signature_valid(public_key, request, settings.telnyx_timestamp_tolerance_s, time.time())


def texml(
    stream_url: str, token: str, call_id: str, numbers: dict[str, str], settings: Settings
) -> str:
    codec = settings.telnyx_codec
    parameters = "".join(
        f"<Parameter name={quoteattr(k)} value={quoteattr(v)}/>"
        for k, v in {TOKEN_PARAMETER: token, **numbers}.items()
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response><Connect>'
        f'<Stream url={quoteattr(stream_url)} track="inbound_track" codec="{codec}" '
        f'bidirectionalMode="rtp" bidirectionalCodec="{codec}" '
        f'bidirectionalSamplingRate="{RATES[codec]}">'
        f"{parameters}</Stream></Connect></Response>"
    )


ANSWER = Answer(
    verify=verify,
    markup=texml,
    busy='<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>',
    refused='<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>',
    call_id="CallSid",  # TeXML's CallSid is the stream's call_control_id
)
