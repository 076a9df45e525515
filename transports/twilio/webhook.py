"""The voice webhook: signature check, one-time stream token, TwiML answer."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

TOKEN_PARAMETER = "sluice_token"


class StreamTokens:
    """One-time tokens tying a media stream to a webhook request that passed
    validation. Bounded: the oldest token goes when the store is full."""

    def __init__(self, ttl_s: float, capacity: int = 10_000, now=time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._now = now
        self._tokens: OrderedDict[str, float] = OrderedDict()

    def issue(self) -> str:
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self._now() + self.ttl_s
        while len(self._tokens) > self.capacity:
            self._tokens.popitem(last=False)
        return token

    def redeem(self, token: str) -> bool:
        expires = self._tokens.pop(token, None)
        return expires is not None and expires >= self._now()


def public_url(
    request_url: str, forwarded_proto: str | None, forwarded_host: str | None, base: str
) -> str:
    """The URL Twilio signed: behind a proxy, rebuilt from the forwarded scheme and host."""
    parts = urlsplit(request_url)
    if base:
        b = urlsplit(base)
        return urlunsplit((b.scheme, b.netloc, parts.path, parts.query, ""))
    scheme = (forwarded_proto or parts.scheme).split(",")[0].strip()
    host = (forwarded_host or parts.netloc).split(",")[0].strip()
    return urlunsplit((scheme, host, parts.path, parts.query, ""))


def signature_valid(auth_token: str, url: str, params: dict[str, str], signature: str) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def stream_twiml(stream_url: str, token: str, parameters: dict[str, str]) -> str:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def media_stream_url(webhook_url: str, path: str) -> str:
    parts = urlsplit(webhook_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))
