"""The voice webhook: signature check, one-time stream token, TwiML answer."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

TOKEN_PARAMETER = "sluice_token"


@dataclass(frozen=True, slots=True)
class Redeemed:
    call_sid: str
    """The CallSid whose webhook the token was issued for: the only one the stream may claim."""


class StreamTokens:
    """One-time tokens tying a media stream to a webhook request that passed
    validation, and to that request's CallSid.

    A replayed or retried webhook for the same CallSid gets the same token back
    while it is unredeemed, and nothing once its stream has started, so a
    captured signed request cannot mint fresh tokens. Bounded: the oldest
    entries go when the store is full.
    """

    def __init__(self, ttl_s: float, capacity: int = 10_000, now=time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.capacity = capacity
        self._now = now
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._by_sid: dict[str, str] = {}
        self._redeemed: OrderedDict[str, float] = OrderedDict()

    def issue(self, call_sid: str = "") -> str | None:
        """A token for this CallSid, or None if its stream already started."""
        now = self._now()
        if call_sid:
            used_until = self._redeemed.get(call_sid)
            if used_until is not None and used_until >= now:
                return None
            existing = self._by_sid.get(call_sid)
            if existing is not None and self._tokens.get(existing, ("", -1.0))[1] >= now:
                return existing
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (call_sid, now + self.ttl_s)
        if call_sid:
            self._by_sid[call_sid] = token
        while len(self._tokens) > self.capacity:
            _, (old_sid, _) = self._tokens.popitem(last=False)
            self._forget_sid(old_sid)
        return token

    def _forget_sid(self, call_sid: str) -> None:
        token = self._by_sid.get(call_sid)
        if token is not None and token not in self._tokens:
            del self._by_sid[call_sid]

    def redeem(self, token: str, claimed_sid: str) -> Redeemed | None:
        """The token's CallSid, used up, when the stream claims that CallSid.
        A claim naming another call gets the token's own CallSid back, to be
        refused, and leaves the token for the real stream."""
        entry = self._tokens.get(token)
        if entry is None:
            return None
        call_sid, expires = entry
        if call_sid and call_sid != claimed_sid and expires >= self._now():
            return Redeemed(call_sid)
        del self._tokens[token]
        self._forget_sid(call_sid)
        if expires < self._now():
            return None
        if call_sid:
            self._redeemed[call_sid] = self._now() + self.ttl_s
            while len(self._redeemed) > self.capacity:
                self._redeemed.popitem(last=False)
        return Redeemed(call_sid)


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
    url = urlunsplit((scheme, host, parts.path, parts.query, ""))
    rebuilt = urlsplit(url)  # raises ValueError for a forwarded host like "[" ...
    _ = rebuilt.port  # ... or a port like 99999999
    if scheme not in ("http", "https") or not rebuilt.hostname:
        raise ValueError(f"not a public URL: {url!r}")
    return url


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


def stream_tokens(ctx: Any) -> StreamTokens:
    """The process's one-time stream tokens, made on first use."""
    tokens = ctx.extensions.get("twilio.tokens")
    if tokens is None:
        tokens = ctx.extensions["twilio.tokens"] = StreamTokens(ctx.settings.twilio_token_ttl_s)
    return tokens


async def issue_token(ctx: Any, call_sid: str) -> str | None:
    """A one-time stream token for this CallSid, valid on every node of a
    cluster; None if its stream already started. Raises ClusterUnavailable."""
    ttl = ctx.settings.twilio_token_ttl_s
    if ctx.cluster is not None:
        return await ctx.cluster.issue_token(call_sid, ttl)
    return stream_tokens(ctx).issue(call_sid)


async def redeem_token(ctx: Any, token: str, claimed_sid: str) -> Redeemed | None:
    """Spends the token only for the CallSid it was issued for; a `Redeemed`
    naming another CallSid means the claim is wrong and the token is intact."""
    ttl = ctx.settings.twilio_token_ttl_s
    if ctx.cluster is not None:
        if len(token) > 64:
            return None
        sid = await ctx.cluster.redeem_token(token, ttl, claimed_sid)
        return None if sid is None else Redeemed(sid)
    return stream_tokens(ctx).redeem(token, claimed_sid)
