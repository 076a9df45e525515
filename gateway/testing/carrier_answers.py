"""The carrier's side of the answer request, for tests: a request signed the
way each carrier documents it, and the stream URL and token read back out of
the markup the gateway answered with."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from twilio.request_validator import RequestValidator


@dataclass
class Signer:
    """One carrier account: the secret the gateway is configured with, and how
    that carrier signs an answer request with it."""

    carrier: str
    secret: str = field(default_factory=lambda: secrets.token_hex(16))
    _telnyx_key: Ed25519PrivateKey = field(default_factory=Ed25519PrivateKey.generate)

    @property
    def setting(self) -> dict[str, str]:
        """The gateway setting that checks this account's signatures."""
        name = {
            "twilio": "twilio_auth_token",
            "signalwire": "signalwire_signing_key",
            "telnyx": "telnyx_public_key",
            "plivo": "plivo_auth_token",
            "vonage": "vonage_signature_secret",
        }[self.carrier]
        if self.carrier == "telnyx":
            raw = self._telnyx_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
            return {name: base64.b64encode(raw).decode()}
        return {name: self.secret}

    def params(self, call_id: str) -> dict[str, str]:
        """What the carrier sends when a call arrives (a few of its fields)."""
        return {
            "twilio": {"CallSid": call_id, "From": "+15550000001", "To": "+15550000002"},
            "signalwire": {"CallSid": call_id, "From": "+15550000001", "To": "+15550000002"},
            "telnyx": {"CallSid": call_id, "AccountSid": "acc-1", "CallStatus": "ringing",
                       "From": "+15550000001", "To": "+15550000002"},
            "plivo": {"CallUUID": call_id, "From": "15550000001", "To": "15550000002",
                      "CallStatus": "in-progress", "Event": "StartApp"},
            "vonage": {"to": "15550000002", "from": "15550000001", "uuid": call_id,
                       "conversation_uuid": "CON-1"},
        }[self.carrier]  # fmt: skip

    def request(self, url: str, params: dict[str, str], *, wrong: bool = False) -> dict:
        """httpx request arguments (method, url, headers, content) for a signed answer request."""
        secret = self.secret + ("x" if wrong else "")
        body = urlencode(params).encode()
        form = {"content-type": "application/x-www-form-urlencoded"}
        if self.carrier in ("twilio", "signalwire"):
            header = "X-Twilio-Signature" if self.carrier == "twilio" else "X-SignalWire-Signature"
            signature = RequestValidator(secret).compute_signature(url, params)
            return dict(method="POST", url=url, content=body, headers={**form, header: signature})
        if self.carrier == "telnyx":
            stamp = str(int(time.time()))
            key = Ed25519PrivateKey.generate() if wrong else self._telnyx_key
            signature = base64.b64encode(key.sign(stamp.encode() + b"|" + body)).decode()
            headers = {**form, "telnyx-timestamp": stamp, "telnyx-signature-ed25519": signature}
            return dict(method="POST", url=url, content=body, headers=headers)
        if self.carrier == "plivo":
            nonce = secrets.token_hex(10)
            # Plivo V3 for a POST: the URL without its query, "?", the query
            # sorted as k=v joined by "&" and then "." if there was one, each
            # body parameter as key then value in key order, ".", the nonce.
            base, _, query = url.partition("?")
            pairs = sorted(parse_qsl(query, keep_blank_values=True))
            sorted_query = "&".join(f"{k}={v}" for k, v in pairs)
            body_text = "".join(k + params[k] for k in sorted(params))
            text = base + "?" + sorted_query + ("." if sorted_query else "") + body_text
            text += "." + nonce
            digest = hmac.new(secret.encode(), text.encode(), hashlib.sha256).digest()
            headers = {**form, "X-Plivo-Signature-V3": base64.b64encode(digest).decode(),
                       "X-Plivo-Signature-V3-Nonce": nonce}  # fmt: skip
            return dict(method="POST", url=url, content=body, headers=headers)
        # Vonage fetches answer_url with GET, its own parameters after any the
        # URL had; the JWT hashes the whole query as compact JSON, in order.
        base, _, query = url.partition("?")
        sent = {**dict(parse_qsl(query)), **params}
        token = self._vonage_jwt(secret, json.dumps(sent, separators=(",", ":")).encode())
        return dict(
            method="GET", url=base + "?" + urlencode(sent),
            headers={"Authorization": f"Bearer {token}"},
        )  # fmt: skip

    def _vonage_jwt(self, secret: str, payload: bytes) -> str:
        claims = {
            "iat": int(time.time()), "jti": secrets.token_hex(8), "iss": "Vonage",
            "payload_hash": hashlib.sha256(payload).hexdigest(),
            "api_key": "key1", "application_id": "app-1",
        }  # fmt: skip
        return jwt.encode(claims, secret, algorithm="HS256")

    def event(self, url: str, body: dict, *, wrong: bool = False) -> dict:
        """A Vonage event (status, machine detection): a JSON POST, its JWT
        hashing the body."""
        content = json.dumps(body).encode()
        token = self._vonage_jwt(self.secret + ("x" if wrong else ""), content)
        headers = {"Authorization": f"Bearer {token}", "content-type": "application/json"}
        return dict(method="POST", url=url, content=content, headers=headers)


def stream_of(carrier: str, markup: str) -> tuple[str, dict[str, str]]:
    """(media stream URL, the parameters it carries: token, numbers) from the gateway's answer."""
    if carrier == "vonage":
        endpoint = json.loads(markup)[0]["endpoint"][0]
        return endpoint["uri"], dict(endpoint["headers"])
    stream = ET.fromstring(markup).find(".//Stream")
    assert stream is not None, markup
    if carrier == "plivo":
        headers = dict(p.split("=", 1) for p in stream.get("extraHeaders", "").split(",") if p)
        return (stream.text or "").strip(), headers
    return stream.get("url", ""), {
        p.get("name", ""): p.get("value", "") for p in stream.findall("Parameter")
    }
