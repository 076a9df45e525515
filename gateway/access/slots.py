"""Call slots: whether a connection that has shown it may call gets to.

On a single node the count is this process's, against `max_calls`. With
`redis_url` the cluster decides in one atomic step against `max_calls` for
the node and `cluster_max_calls` for all nodes. A node draining after SIGTERM
takes no new calls at all.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from gateway.cluster.redis_state import ClusterUnavailable, RedisCluster

log = logging.getLogger(__name__)

REFUSALS = {
    "full": "gateway full; retry later",
    "cluster_full": "every node is full; retry later",
    "cluster_unavailable": "the cluster cannot be reached; retry later",
    "draining": "this node is shutting down; retry on another",
}
"""Why a call was refused, as the caller is told (close reason, problem detail)."""


@dataclass(frozen=True, slots=True)
class Slot:
    id: str


class Slots:
    def __init__(self, max_calls: int, cluster: RedisCluster | None = None) -> None:
        self.max_calls = max_calls
        self.cluster = cluster
        self.active = 0
        self.draining = False

    def local_room(self) -> str:
        if self.draining:
            return "draining"
        return "ok" if self.active < self.max_calls else "full"

    async def room(self) -> str:
        """'ok' or why not, without taking a slot."""
        verdict = self.local_room()
        if verdict != "ok" or self.cluster is None:
            return verdict
        try:
            return await self.cluster.room()
        except ClusterUnavailable:
            return "cluster_unavailable"

    async def take(self) -> Slot | str:
        """A slot, or why not. The local count is taken before any await, so
        two connections on this process never both get its last slot."""
        verdict = self.local_room()
        if verdict != "ok":
            return verdict
        slot = Slot(secrets.token_hex(8))
        self.active += 1
        if self.cluster is None:
            return slot
        try:
            verdict = await self.cluster.admit(slot.id)
        except ClusterUnavailable:
            verdict = "cluster_unavailable"
        if verdict != "ok":
            self.active -= 1
            return verdict
        return slot

    async def give(self, slot: Slot) -> None:
        self.active -= 1
        if self.cluster is not None:
            await self.cluster.release(slot.id)
