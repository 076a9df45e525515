"""What every endpoint of one gateway process shares."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from gateway.call_records import CallRecords
from gateway.clock import Clock, MonotonicClock
from gateway.config import Settings
from gateway.metrics import GatewayMetrics
from gateway.services import Services
from transports.twilio.webhook import StreamTokens


@dataclass
class GatewayContext:
    settings: Settings
    services: Services
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    clock: Clock = field(default_factory=MonotonicClock)
    tokens: StreamTokens | None = None
    active_calls: int = 0
    calls: dict = field(default_factory=dict)
    """Live calls by id, for tests and introspection."""
    records: CallRecords = field(default_factory=CallRecords)
    """What the gateway saw of live and recent calls, served at /calls."""
    webrtc_sessions: dict = field(default_factory=dict)
    """WebRTC sessions by resource id, for hang-up by DELETE."""
    worker_index: int = 0
    worker_ports: list[int] = field(default_factory=list)
    """Private loopback ports of every worker, when several share the public port."""
    _ids: itertools.count = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        if self.tokens is None:
            self.tokens = StreamTokens(self.settings.twilio_token_ttl_s)

    def next_call_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def has_room(self) -> bool:
        return self.active_calls < self.settings.max_calls

    def take_slot(self) -> bool:
        """Reserve room for a call from the moment its connection is accepted."""
        if not self.has_room():
            return False
        self.active_calls += 1
        return True

    def give_slot(self) -> None:
        self.active_calls -= 1
