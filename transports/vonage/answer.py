"""Vonage's answer: the signed-webhook JWT and the NCCO that connects a
WebSocket endpoint, its token among the endpoint's headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import jwt

from gateway.runtime.config import Settings
from transports.media_stream.answer import Answer, Signed
from transports.vonage.protocol import CALL_HEADER, TOKEN_HEADER

MAX_AGE_S = 300
"""A signed request older than this is a replay."""


def payload_hash(request: Signed) -> str:
    """SHA-256 of what was sent: the body of a POST, the query of a GET as a
    compact JSON object in the order it came."""
    if request.method == "GET":
        body = json.dumps(request.params, separators=(",", ":")).encode()
    else:
        body = request.body
    return hashlib.sha256(body).hexdigest()


def verify(secret: str, request: Signed, settings: Settings) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["iat"]})
    except jwt.PyJWTError:
        return False
    if abs(time.time() - float(claims["iat"])) > MAX_AGE_S:
        return False
    claimed = claims.get("payload_hash")
    return isinstance(claimed, str) and hmac.compare_digest(claimed, payload_hash(request))


def ncco(
    stream_url: str, token: str, call_id: str, numbers: dict[str, str], settings: Settings
) -> str:
    endpoint = {
        "type": "websocket",
        "uri": stream_url,
        "content-type": f"audio/l16;rate={settings.vonage_rate}",
        "headers": {TOKEN_HEADER: token, CALL_HEADER: call_id, **numbers},
    }
    return json.dumps([{"action": "connect", "endpoint": [endpoint]}])


ANSWER = Answer(
    verify=verify,
    markup=ncco,
    busy="[]",  # an empty NCCO ends the call
    refused="[]",
    call_id="uuid",
    numbers=("from", "to"),
    media_type="application/json",
    methods=("GET", "POST"),
    body="json",
)
