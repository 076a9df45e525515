"""What the gateway saw of each call, as JSON: turns, interrupts, flow figures.

Served at `/calls/{id}` for operators (look a call up by its id, or by Twilio's
CallSid) and for `sluice compare` against a gateway it did not start. Instants
are wall-clock seconds (Unix time), so a client on another clock can line them
up with its own record; on one machine they agree to well under a millisecond.
A bounded number of ended calls is kept; live calls are read as they are.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.call.call import Call

KEPT_CALLS = 200


@dataclass(frozen=True, slots=True)
class Aliases:
    """Other names a call's record answers to.

    `trusted` names were bound by the gateway itself (the CallSid a stream
    token was issued for) and always point at this call. `claimed` names come
    from the peer (a StreamSid, a CallSid in development mode) and are taken
    only if no other call holds them, so a stream cannot hijack another
    call's record by naming its CallSid.
    """

    trusted: tuple[str, ...] = ()
    claimed: tuple[str, ...] = ()


def _wall(offset: float, instant: float | None) -> float | None:
    return None if instant is None else round(instant + offset, 6)


def snapshot(call: Call, aliases: tuple[str, ...] = (), ended: bool = False) -> dict[str, Any]:
    # The call's clock is monotonic; one offset turns all its instants to wall time.
    offset = time.time() - call.clock.now()
    window = call.flow.window
    # An interrupted turn's heard words are the ones the barge-in kept, the same
    # text its `interrupted` event told the caller's page.
    interrupted_text = {i.turn_id: i.heard_text for i in call.interrupts}
    return {
        "call_id": call.call_id,
        "aliases": list(aliases),
        "transport": call.kind,
        "started_at": _wall(offset, call.started_at),
        "ended": ended or call.end_reason is not None,
        "end_reason": call.end_reason or ("closed" if ended else None),
        "window_ms": window.limit_ms,
        "in_flight_ms": window.in_flight_ms,
        "peak_in_flight_ms": window.peak_in_flight_ms,
        # A paced wire's silent frames while a turn had more to say. Frames inside a
        # pause for the caller's voice are silence on purpose, and one gap of many
        # frames is one underrun: so the two counts differ.
        "starved_frames": call.starved_frames,
        "starved_frames_paused": call.starved_in_pause,
        "underruns": call.underruns,
        "turn_id": call.turns.turn_id,
        "phase": call.turns.phase.value,
        "turns": [
            {
                "turn_id": r.turn_id,
                "started_at": _wall(offset, r.started_at),
                "user_ended_at": _wall(offset, r.user_ended_at),
                "first_sent_at": _wall(offset, r.first_sent_at),
                "produced_ms": r.produced_ms,
                "finished": r.finished,
                "cancelled": r.cancelled,
                "transcript": r.transcript,
                "text": r.text,
                "heard_text": interrupted_text[r.turn_id]
                if r.turn_id in interrupted_text
                else r.heard_text(call.flow.confirmed_ms(r.turn_id)),
            }
            for r in call.records.values()
        ],
        "interrupts": [
            {
                "turn_id": i.turn_id,
                "at": _wall(offset, i.at),
                "speech_began_at": _wall(offset, i.speech_began_at),
                "heard_ms": i.heard_ms,
                "dropped_queue_ms": i.dropped_queue_ms,
                "dropped_in_flight_ms": i.dropped_in_flight_ms,
                "cancelled_work": i.cancelled_work,
                "confirmed_at": _wall(offset, i.confirmed_at),
            }
            for i in call.interrupts
        ],
        "backchannels": [
            {
                "turn_id": b.turn_id,
                "paused_at": _wall(offset, b.paused_at),
                "resumed_at": _wall(offset, b.resumed_at),
                "heard_ms": b.heard_ms,
            }
            for b in call.backchannels
        ],
        "backchannels_ignored": call.backchannels_ignored,
        "call_control": [
            {
                "action": a.action,
                "target": a.target,
                "asked_at": _wall(offset, a.asked_at),
                "heard_at": _wall(offset, a.heard_at),
                "done_at": _wall(offset, a.done_at),
                "outcome": a.outcome,
                "detail": a.detail,
            }
            for a in call.core.actions
        ],
    }


class CallRecords:
    """Ended calls' snapshots, newest last, at most `keep` of them."""

    def __init__(self, keep: int = KEPT_CALLS) -> None:
        self.keep = keep
        self._ended: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._aliases: dict[str, str] = {}
        self._live: dict[str, tuple[Call, tuple[str, ...]]] = {}

    def started(self, call: Call, aliases: Aliases | None = None) -> None:
        aliases = aliases or Aliases()
        held = list(aliases.trusted)
        for alias in aliases.trusted:
            self._aliases[alias] = call.call_id
        for alias in aliases.claimed:
            taken = alias in self._aliases or alias in self._live or alias in self._ended
            if alias and not taken:
                self._aliases[alias] = call.call_id
                held.append(alias)
        self._live[call.call_id] = (call, tuple(held))

    def live(self, alias: str) -> bool:
        """Whether a live call answers to this alias."""
        return self._aliases.get(alias) in self._live

    def ended(self, call: Call) -> None:
        _, aliases = self._live.pop(call.call_id, (call, ()))
        self._ended[call.call_id] = snapshot(call, aliases, ended=True)
        while len(self._ended) > self.keep:
            _, old = self._ended.popitem(last=False)
            for alias in old["aliases"]:
                if self._aliases.get(alias) == old["call_id"]:  # not reused by a newer call
                    del self._aliases[alias]

    def get(self, key: str) -> dict[str, Any] | None:
        call_id = self._aliases.get(key, key)
        if call_id in self._live:
            call, aliases = self._live[call_id]
            return snapshot(call, aliases)
        return self._ended.get(call_id)

    def recent(self) -> list[dict[str, Any]]:
        """Live calls, then ended ones newest first: id, transport, start, end reason."""
        offset = 0.0
        live = []
        for call, aliases in self._live.values():
            offset = time.time() - call.clock.now()
            live.append({"call_id": call.call_id, "aliases": list(aliases),
                         "transport": call.kind, "started_at": _wall(offset, call.started_at),
                         "end_reason": None})  # fmt: skip
        ended = [
            {k: r[k] for k in ("call_id", "aliases", "transport", "started_at", "end_reason")}
            for r in reversed(self._ended.values())
        ]
        return live + ended
