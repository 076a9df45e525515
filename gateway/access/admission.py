"""Pending connections: the stage between a socket and a call slot.

A connection becomes a call only once it has shown it may call (a Twilio
`start` with a valid token, a browser hello with the token, a WebRTC session
whose ICE and DTLS completed). Until then it is *pending*: it holds no call
slot, no model and no task beyond its reader, and it is counted here, in total
and per client address, apart from `max_calls`.

When either limit is reached the newcomer is still let in and an older pending
connection is evicted instead: the address's own oldest when it passes its
share, the oldest of all when the total is full. A flood from one address thus
evicts its own connections; a flood from many must open `max_total`
connections within a real caller's handshake (tens of milliseconds) to push it
out. Either way it can delay other pending connections, never an admitted call,
and never take the slots.

`PendingGate` is sans-I/O (an injected clock, no sockets); `PendingConnections`
is the thin asyncio wrapper the adapters use.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

from gateway.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Entered:
    ticket: int
    evicted: tuple[int, ...]
    """Older pending connections the newcomer displaced; close them."""


class PendingGate:
    def __init__(self, clock: Clock, max_total: int, max_per_address: int) -> None:
        if max_total < 1 or max_per_address < 1:
            raise ValueError("pending limits must be at least 1")
        self.clock = clock
        self.max_total = max_total
        self.max_per_address = max_per_address
        self._tickets = itertools.count(1)
        # ticket -> (address, entered at); insertion order is age order.
        self._pending: OrderedDict[int, tuple[str, float]] = OrderedDict()
        self._by_address: dict[str, OrderedDict[int, None]] = {}
        self.evictions = 0

    def __len__(self) -> int:
        return len(self._pending)

    def count(self, address: str) -> int:
        return len(self._by_address.get(address, ()))

    def enter(self, address: str) -> Entered:
        evicted: list[int] = []
        if self.count(address) >= self.max_per_address:
            evicted.append(self._evict_oldest(address))
        if len(self._pending) >= self.max_total:
            # The oldest of all, not the busiest address's: callers from a shared
            # address (Twilio's egress) must not be the flood's target.
            oldest = next(iter(self._pending))
            self.leave(oldest)
            evicted.append(oldest)
        ticket = next(self._tickets)
        self._pending[ticket] = (address, self.clock.now())
        self._by_address.setdefault(address, OrderedDict())[ticket] = None
        self.evictions += len(evicted)
        return Entered(ticket, tuple(evicted))

    def leave(self, ticket: int) -> None:
        """The connection was admitted, refused or went away; safe to repeat."""
        entry = self._pending.pop(ticket, None)
        if entry is None:
            return
        mine = self._by_address[entry[0]]
        del mine[ticket]
        if not mine:
            del self._by_address[entry[0]]

    def age(self, ticket: int) -> float | None:
        entry = self._pending.get(ticket)
        return None if entry is None else self.clock.now() - entry[1]

    def _evict_oldest(self, address: str) -> int:
        ticket = next(iter(self._by_address[address]))
        self.leave(ticket)
        return ticket


class Evicted(Exception):
    """A newer pending connection displaced this one (see PendingGate)."""


class PendingConnections:
    """Runs each connection's handshake step under the gate, with a deadline."""

    def __init__(self, gate: PendingGate) -> None:
        self.gate = gate
        self._evicted: dict[int, asyncio.Event] = {}

    def enter(self, address: str) -> int:
        entered = self.gate.enter(address)
        for ticket in entered.evicted:
            event = self._evicted.pop(ticket, None)
            if event is not None:
                event.set()
        self._evicted[entered.ticket] = asyncio.Event()
        return entered.ticket

    def leave(self, ticket: int) -> None:
        self.gate.leave(ticket)
        self._evicted.pop(ticket, None)

    def evicted(self, ticket: int) -> bool:
        return ticket not in self._evicted

    async def run(self, ticket: int, step: Awaitable[T], timeout_s: float) -> T:
        """`step` until done; raises TimeoutError past the deadline, Evicted if displaced."""
        event = self._evicted.get(ticket)
        task = asyncio.ensure_future(step)
        if event is None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise Evicted
        evicted = asyncio.ensure_future(event.wait())
        try:
            async with asyncio.timeout(timeout_s):
                await asyncio.wait({task, evicted}, return_when=asyncio.FIRST_COMPLETED)
        except (TimeoutError, asyncio.CancelledError):
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise
        finally:
            evicted.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            raise Evicted
        return task.result()
