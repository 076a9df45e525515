"""What every endpoint of one gateway process shares."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

import httpx

from gateway.access.admission import PendingConnections, PendingGate
from gateway.access.slots import Slots
from gateway.access.tokens import HostPolicy
from gateway.call.records import CallRecords
from gateway.clock import Clock, MonotonicClock
from gateway.cluster.redis_state import RedisCluster
from gateway.observe.metrics import GatewayMetrics
from gateway.runtime.config import Settings
from gateway.runtime.services import Services


@dataclass
class GatewayContext:
    settings: Settings
    services: Services
    metrics: GatewayMetrics = field(default_factory=GatewayMetrics)
    clock: Clock = field(default_factory=MonotonicClock)
    cluster: RedisCluster | None = None
    """What the nodes share, when `redis_url` is set."""
    slots: Slots | None = None
    calls: dict = field(default_factory=dict)
    """Live calls by id, for tests and introspection."""
    records: CallRecords = field(default_factory=CallRecords)
    """What the gateway saw of live and recent calls, served at /calls."""
    extensions: dict[str, Any] = field(default_factory=dict)
    """State a transport package keeps for the process, under its own names
    (see transports/packages.py): the core knows nothing of what is in it."""
    worker_index: int = 0
    worker_ports: list[int] = field(default_factory=list)
    """Private loopback ports of every worker, when several share the public port."""
    worker_secret: str = ""
    """Shared by the workers of one supervisor: what their private ports require."""
    pending: PendingConnections | None = None
    hosts: HostPolicy | None = None
    _http: httpx.AsyncClient | None = None

    def __post_init__(self) -> None:
        s = self.settings
        if self.pending is None:
            self.pending = PendingConnections(
                PendingGate(self.clock, s.pending_max, s.pending_per_address)
            )
        if self.slots is None:
            self.slots = Slots(s.max_calls, self.cluster)
        gate = self.pending.gate
        self.metrics.pending.set_function(lambda: len(gate))
        if (cluster := self.cluster) is not None:
            self.metrics.cluster_up.set_function(lambda: float(cluster.healthy))
            self.metrics.cluster_failures.set_function(lambda: cluster.failures)
            self.metrics.cluster_dropped_writes.set_function(lambda: cluster.dropped_writes)
        if self.hosts is None:
            self.hosts = HostPolicy.from_settings(s.host, s.public_url, s.allowed_hosts)

    def next_call_id(self, prefix: str) -> str:
        """Unguessable: a call id is public (logs, the page), so it must not
        let anyone enumerate other people's calls."""
        return f"{prefix}-{secrets.token_urlsafe(12)}"

    @property
    def other_worker_ports(self) -> list[int]:
        return [p for i, p in enumerate(self.worker_ports) if i != self.worker_index]

    def http(self) -> httpx.AsyncClient:
        """One client for every request to the other workers, made on first use."""
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=2)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def active_calls(self) -> int:
        assert self.slots is not None
        return self.slots.active

    @property
    def draining(self) -> bool:
        assert self.slots is not None
        return self.slots.draining
