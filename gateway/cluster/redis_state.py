"""What the nodes of a cluster share, kept in Redis: call slots, one-time
stream tokens, the call registry, WebRTC sessions, and which node is alive.

Each gateway process is a *member*: its node's URL, and its private loopback
port when a node runs several workers. A member refreshes everything it owns
every third of `cluster_ttl_s`; a member killed without a goodbye stops
refreshing, and its slots, calls and sessions drop out within the TTL.

Registry writes go through a bounded queue to one writer task, so a call's
start or end never waits on Redis; admission and tokens do wait, because the
answer decides the call. When Redis cannot be reached, live calls go on
(their refreshes fail and are counted) and new calls are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from dataclasses import dataclass
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.exceptions import RedisError

from gateway.cluster import scripts

log = logging.getLogger(__name__)

PREFIX = "sluice:"
ENDED_KEPT = 200
ENDED_TTL_S = 3600
"""Ended calls' records and the aliases that find them: the newest 200, for an hour."""
HOP_HEADER = "x-sluice-cluster-hop"
"""On a request one node forwards to another: the receiver answers from what
it holds and never forwards again, so a stale registry cannot make a loop."""
WRITE_QUEUE = 1000
"""Registry writes waiting for Redis; past this, new ones are dropped and counted."""


class ClusterUnavailable(Exception):
    """Redis did not answer in time: the cluster cannot decide."""


@dataclass(slots=True)
class _Held:
    entry: str
    """The call's registry entry, as JSON"""
    aliases: list[str]
    """Alias keys that point at this call: trusted ones, and claimed ones it won."""


@dataclass(frozen=True, slots=True)
class Member:
    id: str
    node_url: str
    private_port: int | None


class RedisCluster:
    def __init__(
        self,
        url: str,
        node_url: str,
        ttl_s: float,
        cluster_max_calls: int,
        node_max_calls: int,
        private_port: int | None = None,
        timeout_s: float = 1.0,
    ) -> None:
        self.me = Member(f"{node_url}#{os.getpid()}.{secrets.token_hex(3)}", node_url, private_port)
        self.ttl_ms = int(ttl_s * 1000)
        self.cluster_max_calls = cluster_max_calls
        self.node_max_calls = node_max_calls
        pool = BlockingConnectionPool.from_url(
            url,
            max_connections=16,
            timeout=timeout_s,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            decode_responses=True,
        )
        self.redis = Redis(connection_pool=pool)
        self._admit = self.redis.register_script(scripts.ADMIT)
        self._refresh = self.redis.register_script(scripts.REFRESH)
        self._count = self.redis.register_script(scripts.COUNT)
        self._live = self.redis.register_script(scripts.LIVE)
        self._live_add = self.redis.register_script(scripts.LIVE_ADD)
        self._end_call = self.redis.register_script(scripts.END_CALL)
        self._issue = self.redis.register_script(scripts.ISSUE_TOKEN)
        self._redeem = self.redis.register_script(scripts.REDEEM_TOKEN)
        self.slots_key = PREFIX + "slots"
        self.node_slots_key = PREFIX + "slots:node:" + node_url
        self.live_key = PREFIX + "live"
        self._slots: set[str] = set()
        self._calls: dict[str, _Held] = {}
        """Live calls this member owns: each refresh writes them again."""
        self._whip: set[str] = set()
        self._writes: asyncio.Queue[tuple[str, tuple[Any, ...]]] = asyncio.Queue(WRITE_QUEUE)
        self._tasks: list[asyncio.Task] = []
        self.healthy = True
        self.failures = 0
        self.dropped_writes = 0

    # ---- life -----------------------------------------------------------------

    async def start(self) -> None:
        """Joins the cluster; a Redis that is down now is reported, not fatal."""
        try:
            await self._heartbeat()
        except ClusterUnavailable:
            log.error("redis unreachable at start: new calls are refused until it answers")
        self._tasks = [
            asyncio.create_task(self._beat_forever(), name="cluster-heartbeat"),
            asyncio.create_task(self._write_forever(), name="cluster-writer"),
        ]

    async def stop(self, flush_s: float = 2.0) -> None:
        """Leaves the cluster: the last calls' records are written (for at most
        `flush_s`), and what this member held is released now, not at its TTL."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(flush_s):
                await self._writes.join()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        with contextlib.suppress(RedisError, OSError):
            pipe = self.redis.pipeline(transaction=False)
            pipe.delete(self._member_key(self.me.id))
            if self._slots:
                pipe.zrem(self.slots_key, *self._slots)
                pipe.zrem(self.node_slots_key, *self._slots)
            await pipe.execute()
        await self.redis.aclose()

    async def _call(self, coro):  # noqa: ANN001, ANN202 - any Redis awaitable
        try:
            result = await coro
        except (RedisError, OSError) as exc:
            self._failed(exc)
            raise ClusterUnavailable(str(exc)) from exc
        self.healthy = True
        return result

    def _failed(self, exc: BaseException) -> None:
        if self.healthy:
            log.error("redis unreachable: %s", exc)
        self.healthy = False
        self.failures += 1

    # ---- admission ------------------------------------------------------------

    async def admit(self, slot: str) -> str:
        """'ok', 'full' (this node) or 'cluster_full', decided in one step."""
        verdict = await self._call(
            self._admit(
                keys=[self.slots_key, self.node_slots_key],
                args=[slot, self.cluster_max_calls, self.node_max_calls, self.ttl_ms],
            )
        )
        if verdict == "ok":
            self._slots.add(slot)
        return verdict

    async def release(self, slot: str) -> None:
        self._slots.discard(slot)
        with contextlib.suppress(ClusterUnavailable):  # it expires on its own
            pipe = self.redis.pipeline(transaction=False)
            pipe.zrem(self.slots_key, slot)
            pipe.zrem(self.node_slots_key, slot)
            await self._call(pipe.execute())

    async def room(self) -> str:
        """What `admit` would say now, without taking a slot (the Twilio webhook)."""
        cluster = await self._call(self._count(keys=[self.slots_key]))
        node = await self._call(self._count(keys=[self.node_slots_key]))
        if self.cluster_max_calls and cluster >= self.cluster_max_calls:
            return "cluster_full"
        return "full" if node >= self.node_max_calls else "ok"

    # ---- stream tokens --------------------------------------------------------

    async def issue_token(self, call_sid: str, ttl_s: float) -> str | None:
        token = await self._call(
            self._issue(
                keys=[
                    PREFIX + "token:",
                    PREFIX + "sid-token:" + call_sid,
                    PREFIX + "sid-redeemed:" + call_sid,
                ],  # fmt: skip
                args=[secrets.token_urlsafe(24), call_sid, int(ttl_s * 1000)],
            )
        )
        return token or None

    async def redeem_token(self, token: str, ttl_s: float, call_sid: str) -> str | None:
        """The CallSid the token was issued for ('' for none), or None: unknown,
        expired, or already redeemed on some node. Redeemed only when
        `call_sid` (the stream's claim) is that CallSid: otherwise it stays."""
        sid = await self._call(
            self._redeem(
                keys=[
                    PREFIX + "token:" + token,
                    PREFIX + "sid-token:",
                    PREFIX + "sid-redeemed:",
                ],  # fmt: skip
                args=[int(ttl_s * 1000), call_sid],
            )
        )
        return None if sid is None or sid is False else str(sid)

    # ---- the registry ---------------------------------------------------------

    def call_started(self, call_id: str, summary: dict, trusted: list[str], claimed: list[str]):
        held = _Held(json.dumps({**summary, "member": self.me.id}),
                     [PREFIX + "alias:" + a for a in trusted if a])  # fmt: skip
        self._calls[call_id] = held
        self._enqueue("started", call_id, held, [a for a in claimed if a])

    def call_ended(self, call_id: str, record: dict) -> None:
        held = self._calls.pop(call_id, None)
        if held is not None:
            self._enqueue("ended", call_id, record, held)

    def whip_started(self, resource: str) -> None:
        self._whip.add(resource)
        self._enqueue("whip", resource)

    def whip_ended(self, resource: str) -> None:
        self._whip.discard(resource)
        self._enqueue("whip_gone", resource)

    def _enqueue(self, kind: str, *args: Any) -> None:
        try:
            self._writes.put_nowait((kind, args))
        except asyncio.QueueFull:
            self.dropped_writes += 1

    async def _write_forever(self) -> None:
        while True:
            kind, args = await self._writes.get()
            try:
                await self._write(kind, *args)
            except (RedisError, OSError) as exc:
                self._failed(exc)
                self.dropped_writes += 1
            except Exception:
                # The writer must outlive any one write: without it no call is recorded.
                log.exception("cluster registry write %s failed", kind)
                self.dropped_writes += 1
            finally:
                self._writes.task_done()

    async def _write(self, kind: str, *args: Any) -> None:
        ttl = self.ttl_ms
        pipe = self.redis.pipeline(transaction=False)
        if kind == "started":
            call_id, held, claimed = args
            pipe.set(PREFIX + "call:" + call_id, held.entry, px=ttl)
            for key in held.aliases:
                pipe.set(key, call_id, px=ttl)
            # A name the peer chose is taken only if no call holds it: a stream
            # must not take over another call's record by naming its CallSid.
            for alias in claimed:
                pipe.set(PREFIX + "alias:" + alias, call_id, px=ttl, nx=True)
            results = await pipe.execute()
            won = results[1 + len(held.aliases) :]
            held.aliases += [
                PREFIX + "alias:" + a for a, ok in zip(claimed, won, strict=True) if ok
            ]
            if call_id in self._calls:  # still live: scored now, refreshed from now on
                await self._live_add(keys=[self.live_key], args=[call_id, ttl])
        elif kind == "ended":
            call_id, record, held = args
            pipe.delete(PREFIX + "call:" + call_id)
            pipe.zrem(self.live_key, call_id)
            for key in held.aliases:
                pipe.set(key, call_id, ex=ENDED_TTL_S)
            await pipe.execute()
            await self._end_call(
                keys=[PREFIX + "ended", PREFIX + "ended:"],
                args=[call_id, json.dumps(record), ENDED_KEPT, ENDED_TTL_S],
            )
        elif kind == "whip":
            pipe.set(PREFIX + "whip:" + args[0], self.me.id, px=ttl)
            await pipe.execute()
        elif kind == "whip_gone":
            pipe.delete(PREFIX + "whip:" + args[0])
            await pipe.execute()

    async def _heartbeat(self) -> None:
        """Writes again everything this member holds, with a fresh TTL: what
        expired meanwhile (a Redis restart, a long stall) comes back."""
        ttl = self.ttl_ms
        pipe = self.redis.pipeline(transaction=False)
        member = json.dumps({"node_url": self.me.node_url, "private_port": self.me.private_port})
        pipe.set(self._member_key(self.me.id), member, px=ttl)
        for call_id, held in self._calls.items():
            pipe.set(PREFIX + "call:" + call_id, held.entry, px=ttl)
            for key in held.aliases:
                pipe.set(key, call_id, px=ttl)
        for resource in self._whip:
            pipe.set(PREFIX + "whip:" + resource, self.me.id, px=ttl)
        await self._call(pipe.execute())
        await self._call(
            self._refresh(
                keys=[self.slots_key, self.node_slots_key, self.live_key],
                args=[ttl, *self._slots, "--", *self._calls],
            )
        )

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(self.ttl_ms / 3000)
            try:
                await self._heartbeat()
            except ClusterUnavailable:
                pass  # counted; the next beat tries again
            except Exception:
                # A dead heartbeat would let every slot of this member expire.
                log.exception("cluster heartbeat failed")
                self.failures += 1

    # ---- lookups --------------------------------------------------------------

    @staticmethod
    def _member_key(member_id: str) -> str:
        return PREFIX + "member:" + member_id

    async def member(self, member_id: str) -> Member | None:
        raw = await self._call(self.redis.get(self._member_key(member_id)))
        if raw is None:
            return None
        data = json.loads(raw)
        return Member(member_id, data["node_url"], data.get("private_port"))

    async def locate(self, key: str) -> tuple[Member | None, str, dict | None]:
        """(the live call's member, its call id, None) or (None, call id, its
        ended record); (None, '', None) when no node knows it."""
        call_id = await self._call(self.redis.get(PREFIX + "alias:" + key)) or key
        raw = await self._call(self.redis.get(PREFIX + "call:" + call_id))
        if raw is not None:
            return await self.member(json.loads(raw)["member"]), call_id, None
        ended = await self._call(self.redis.get(PREFIX + "ended:" + call_id))
        if ended is not None:
            return None, call_id, json.loads(ended)
        return None, "", None

    async def whip_owner(self, resource: str) -> Member | None:
        member_id = await self._call(self.redis.get(PREFIX + "whip:" + resource))
        return None if member_id is None else await self.member(member_id)

    async def recent(self) -> list[dict]:
        """Live calls on every node, then ended ones newest first."""
        live_ids = await self._call(self._live(keys=[self.live_key]))
        ended_ids = await self._call(self.redis.lrange(PREFIX + "ended", 0, ENDED_KEPT - 1))
        fields = ("call_id", "aliases", "transport", "started_at", "end_reason")
        calls: list[dict] = []
        if live_ids:
            for raw in await self._call(self.redis.mget([PREFIX + "call:" + i for i in live_ids])):
                if raw is not None:
                    entry = json.loads(raw)
                    calls.append({**{k: entry.get(k) for k in fields}, "node": entry.get("node")})
        if ended_ids:
            keys = [PREFIX + "ended:" + i for i in ended_ids]
            for raw in await self._call(self.redis.mget(keys)):
                if raw is not None:
                    entry = json.loads(raw)
                    calls.append({**{k: entry.get(k) for k in fields}, "node": entry.get("node")})
        return calls
