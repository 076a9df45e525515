"""Outbound calls on their way: asked of a carrier, ringing, answered, ended.

`POST /calls` reserves one (at most `outbound_max_pending` at a time, so a
script cannot ring a thousand numbers at once) and asks the carrier. The
carrier then fetches the answer URL, which carries the call's one-time token;
its media stream binds to the record; status and answering-machine callbacks
add to it. A call that is neither answered nor ended within the ring timeout
stops counting as pending, so a lost callback cannot hold a place forever.
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KEPT = 500
TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
CARRIER_STATES = {
    "in-progress": "answered",  # Twilio and Telnyx say so for "answered"; Plivo too
    "cancel": "canceled",  # Plivo's spelling
    "cancelled": "canceled",
    "timeout": "no-answer",
    "unanswered": "no-answer",  # Vonage's
    "rejected": "busy",
    "started": "initiated",
}


def state_of(carrier_status: str) -> str:
    status = carrier_status.strip().lower()
    return CARRIER_STATES.get(status, status)[:20]


@dataclass
class OutboundCall:
    id: str
    carrier: str
    to: str
    from_: str
    token: str
    asked_at: float
    greeting: str | None = None
    agent: str = ""
    voice: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    carrier_call_id: str = ""
    call_id: str = ""
    """Sluice's id of the call, once its media stream began."""
    states: list[dict[str, Any]] = field(default_factory=list)
    answered_by: str = ""
    """"human" or "machine", from the carrier's answering-machine detection."""
    end_of_greeting: bool = False
    """The machine verdict came at the end of its greeting (the beep)."""
    error: str = ""

    @property
    def state(self) -> str:
        return self.states[-1]["state"] if self.states else "requested"

    @property
    def answered(self) -> bool:
        return any(s["state"] == "answered" for s in self.states)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "carrier": self.carrier,
            "to": self.to,
            "from": self.from_,
            "carrier_call_id": self.carrier_call_id,
            "call_id": self.call_id,
            "state": self.state,
            "states": list(self.states),
            "answered_by": self.answered_by,
            "metadata": dict(self.metadata),
            "error": self.error,
        }


class OutboundCalls:
    def __init__(
        self,
        max_pending: int,
        ring_timeout_s: float,
        now: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        keep: int = KEPT,
    ) -> None:
        self.max_pending = max_pending
        self.ring_timeout_s = ring_timeout_s
        self._now = now
        self._wall = wall
        self.keep = max(keep, max_pending)
        self._calls: OrderedDict[str, OutboundCall] = OrderedDict()
        self._tokens: dict[str, str] = {}

    def _pending(self, call: OutboundCall) -> bool:
        if call.answered or call.state in TERMINAL:
            return False
        if self._now() - call.asked_at > self.ring_timeout_s:
            self.add_state(call, "no-answer")  # given up: the carrier never said
            return False
        return True

    @property
    def pending(self) -> int:
        return sum(self._pending(c) for c in list(self._calls.values()))

    def reserve(self, carrier: str, to: str, from_: str, **details: Any) -> OutboundCall | None:
        """A new outbound call, or None while `max_pending` are pending."""
        if self.pending >= self.max_pending:
            return None
        call = OutboundCall(
            "ob-" + secrets.token_hex(8), carrier, to, from_, secrets.token_urlsafe(24),
            self._now(), **details,
        )  # fmt: skip
        self._calls[call.id] = call
        self._tokens[call.token] = call.id
        self.add_state(call, "requested")
        while len(self._calls) > self.keep:
            _, old = self._calls.popitem(last=False)
            self._tokens.pop(old.token, None)
        return call

    def add_state(self, call: OutboundCall, state: str) -> None:
        if call.states and call.states[-1]["state"] == state:
            return  # a carrier that reports one state twice (SignalWire's answered)
        call.states.append({"state": state, "at": round(self._wall(), 6)})
        if state in TERMINAL or state == "failed":
            self._tokens.pop(call.token, None)

    def answer(self, token: str, carrier_call_id: str) -> OutboundCall | None:
        """The call whose answer URL carried `token`, for the carrier's call it
        was placed as (where the carrier named it), until its stream begins:
        a retried answer request gets it again, a replay after that nothing."""
        call = self._calls.get(self._tokens.get(token, ""))
        if call is None or call.state in TERMINAL or call.call_id:
            return None
        if call.carrier_call_id and carrier_call_id != call.carrier_call_id:
            return None
        call.carrier_call_id = carrier_call_id
        self.add_state(call, "answered")
        return call

    def bind(self, outbound_id: str, carrier_call_id: str, call_id: str) -> OutboundCall | None:
        """The stream of an answered outbound call began as call `call_id`."""
        call = self._calls.get(outbound_id)
        if call is None or call.call_id or not call.answered:
            return None
        if call.carrier_call_id != carrier_call_id:
            return None
        call.call_id = call_id
        self._tokens.pop(call.token, None)
        return call

    def get(self, call_id: str) -> OutboundCall | None:
        return self._calls.get(call_id)

    def find(self, key: str) -> OutboundCall | None:
        """By Sluice's outbound id, the carrier's call id, or the call's id."""
        found = self._calls.get(key)
        if found is not None or not key:
            return found
        return next(
            (c for c in reversed(self._calls.values()) if key in (c.carrier_call_id, c.call_id)),
            None,
        )


def outbound_calls(ctx: Any) -> OutboundCalls:
    calls = ctx.extensions.get("outbound")
    if calls is None:
        s = ctx.settings
        calls = ctx.extensions["outbound"] = OutboundCalls(
            s.outbound_max_pending, s.outbound_ring_timeout_s
        )
    return calls
