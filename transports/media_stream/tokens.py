"""One-time stream tokens: the answer request that passed its signature check
gets one, bound to the carrier's id of the call; that call's media stream
must present it. A carrier's tokens are scoped by its name, so one carrier's
token never opens another carrier's stream."""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_TOKEN_CHARS = 64
TOKEN_PARAMETER = "sluice_token"
"""The name every carrier's markup gives the token (a parameter, a header)."""
REMEMBER_REDEEMED_S = 4 * 3600.0
"""How long a call whose stream began is remembered, so that a replay of its
signed answer request mints nothing: longer than a call lasts (Twilio ends
calls at four hours), since Twilio's, SignalWire's and Plivo's signatures
never expire. Bounded besides by the store's capacity."""


@dataclass(frozen=True, slots=True)
class Redeemed:
    call_sid: str
    """The call whose answer request the token was issued for: the only one the stream may claim."""


class StreamTokens:
    """One-time tokens tying a media stream to an answer request that passed
    validation, and to that request's call id.

    A replayed or retried request for the same call gets the same token back
    while it is unredeemed, and nothing once its stream has started, so a
    captured signed request cannot mint fresh tokens. Bounded: the oldest
    entries go when the store is full.
    """

    def __init__(
        self,
        ttl_s: float,
        capacity: int = 10_000,
        now=time.monotonic,
        remember_s: float = REMEMBER_REDEEMED_S,
    ) -> None:
        self.ttl_s = ttl_s
        self.remember_s = max(remember_s, ttl_s)
        self.capacity = capacity
        self._now = now
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()
        self._by_sid: dict[str, str] = {}
        self._redeemed: OrderedDict[str, float] = OrderedDict()

    def issue(self, call_sid: str = "") -> str | None:
        """A token for this call, or None if its stream already started."""
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
        """The token's call, used up, when the stream claims that call.
        A claim naming another call gets the token's own call back, to be
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
            self._redeemed[call_sid] = self._now() + self.remember_s
            while len(self._redeemed) > self.capacity:
                self._redeemed.popitem(last=False)
        return Redeemed(call_sid)


def _scoped(scope: str, call_sid: str) -> str:
    return f"{scope}:{call_sid}" if scope and call_sid else call_sid


def _store(ctx: Any, scope: str, ttl_s: float) -> StreamTokens:
    key = f"{scope or 'twilio'}.tokens"
    tokens = ctx.extensions.get(key)
    if tokens is None:
        tokens = ctx.extensions[key] = StreamTokens(ttl_s)
    return tokens


async def issue_token(ctx: Any, scope: str, call_sid: str, ttl_s: float) -> str | None:
    """A one-time stream token for this call, valid on every node of a
    cluster; None if its stream already started. Raises ClusterUnavailable."""
    if ctx.cluster is not None:
        return await ctx.cluster.issue_token(_scoped(scope, call_sid), ttl_s)
    return _store(ctx, scope, ttl_s).issue(call_sid)


async def redeem_token(
    ctx: Any, scope: str, token: str, claimed_sid: str, ttl_s: float
) -> Redeemed | None:
    """Spends the token only for the call it was issued for; a `Redeemed`
    naming another call means the claim is wrong and the token is intact."""
    if len(token) > MAX_TOKEN_CHARS:
        return None
    if ctx.cluster is not None:
        remember = max(ttl_s, REMEMBER_REDEEMED_S)  # what the redeemed mark lives for
        sid = await ctx.cluster.redeem_token(token, remember, _scoped(scope, claimed_sid))
        if sid is None:
            return None
        return Redeemed(sid.removeprefix(f"{scope}:") if scope else sid)
    return _store(ctx, scope, ttl_s).redeem(token, claimed_sid)
