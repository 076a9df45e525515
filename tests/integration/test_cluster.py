"""Two nodes on one Redis: real `redis-server` and two `sluice serve`
processes on loopback. A webhook on one node and its stream on the other, a
hang-up sent to the wrong node, a cluster-wide limit, a node killed with
SIGKILL, Redis killed under a live call, and a drain on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from twilio.request_validator import RequestValidator

from bench.common import GatewayProcess, start_gateway
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.local_services import RedisServer, free_port
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from transports.webrtc.aiortc_workarounds import advertise_host_addresses

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(not RedisServer.available(), reason="needs apt-get install redis-server"),
]

AUTH = "cluster-test-auth-token"
TTL_S = 3.0
GREETING = (
    "Hello there. This is one node of a cluster speaking, and it will go on for a while, "
    "so that a call is still playing while the tests do things to the other node, to Redis, "
    "and to this node itself. Thank you for waiting."
)


@dataclass
class Node:
    process: GatewayProcess

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.process.port}"

    @property
    def ws(self) -> str:
        return f"ws://127.0.0.1:{self.process.port}"


async def start_node(redis: RedisServer, **settings: str) -> Node:
    port = free_port()
    env = {
        "SLUICE_REDIS_URL": redis.url,
        "SLUICE_NODE_URL": f"http://127.0.0.1:{port}",
        "SLUICE_CLUSTER_TTL_S": str(TTL_S),
        "SLUICE_TWILIO_AUTH_TOKEN": AUTH,
        "SLUICE_GREETING": GREETING,
        "SLUICE_WEBRTC_HOST_ADDRESSES": "127.0.0.1",
        **{f"SLUICE_{k.upper()}": v for k, v in settings.items()},
    }
    process = await asyncio.to_thread(start_gateway, env=env, port=port)
    return Node(process)


@pytest.fixture
async def redis() -> AsyncIterator[RedisServer]:
    server = RedisServer().start()
    yield server
    server.kill()


@pytest.fixture
async def nodes(redis):
    started: list[Node] = []

    async def make(**settings: str) -> Node:
        node = await start_node(redis, **settings)
        started.append(node)
        return node

    advertise_host_addresses(["127.0.0.1"])
    yield make
    advertise_host_addresses([])
    await asyncio.gather(*(asyncio.to_thread(n.process.stop) for n in started))


async def webhook(http: httpx.AsyncClient, node: Node, call_sid: str) -> str | None:
    """POSTs Twilio's voice webhook, signed; the stream token, or None if refused."""
    url = node.base + "/twilio/voice"
    params = {"CallSid": call_sid, "AccountSid": "AC" + "0" * 32, "From": "+15550001111"}
    signature = RequestValidator(AUTH).compute_signature(url, params)
    answer = await http.post(url, data=params, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200
    found = re.search(r'name="sluice_token" value="([^"]+)"', answer.text)
    return found.group(1) if found else None


async def live_calls(http: httpx.AsyncClient, node: Node) -> list[dict]:
    calls = (await http.get(node.base + "/calls")).json()["calls"]
    return [c for c in calls if c["end_reason"] is None]


async def test_a_token_from_one_node_opens_the_stream_on_the_other(nodes):
    a, b = await nodes(), await nodes()
    sid = "CA" + os.urandom(16).hex()
    async with httpx.AsyncClient(timeout=5) as http:
        token = await webhook(http, a, sid)
        assert token
        async with TwilioCaller(b.ws + "/twilio/media", token=token, call_sid=sid) as caller:
            await caller.wait_until(lambda: caller.log.played_ms(1) >= 1000, timeout=20)
            record = (await http.get(f"{a.base}/calls/{sid}")).json()
            assert record["ended"] is False and record["transport"] == "twilio"
            listed = await live_calls(http, a)
            assert [c["node"] for c in listed] == [b.base]
            # One-time across the cluster: the same token is refused on either node.
            for node in (a, b):
                async with TwilioCaller(
                    node.ws + "/twilio/media", token=token, call_sid=sid
                ) as replay:
                    await replay.wait_until(lambda r=replay: r.closed, timeout=5)
                    assert replay.close_code == 1008
        assert not caller.errors
        await wait_for_async(lambda: _ended(http, a, sid), timeout=10)


async def _ended(http: httpx.AsyncClient, node: Node, sid: str) -> bool:
    return (await http.get(f"{node.base}/calls/{sid}")).json().get("ended") is True


async def wait_for_async(predicate, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_a_whip_delete_on_another_node_hangs_up_the_call(nodes):
    a, b = await nodes(), await nodes()
    async with httpx.AsyncClient(timeout=5) as http:
        caller = WebRtcCaller(a.base)
        await caller.connect()
        try:
            await wait_for_async(lambda: _calls_on(http, a, 1), timeout=15)
            answer = await http.delete(b.base + caller.resource)
            assert answer.status_code == 200
            await wait_for_async(lambda: _calls_on(http, a, 0), timeout=10)
            missing = await http.delete(b.base + "/webrtc/whip/w0.nosuchresource")
            assert missing.status_code == 404
        finally:
            await caller.hang_up(delete=False)


async def _calls_on(http: httpx.AsyncClient, node: Node, n: int) -> bool:
    return (await http.get(node.base + "/healthz")).json()["calls"] == n


async def test_a_cluster_limit_of_one_holds_across_nodes(nodes):
    a = await nodes(cluster_max_calls="1")
    b = await nodes(cluster_max_calls="1")
    async with httpx.AsyncClient(timeout=5) as http:
        async with BrowserCaller(a.ws + "/browser/ws") as first:
            await first.wait_until(lambda: first.log.played_ms(1) > 0, timeout=20)
            assert await webhook(http, b, "CA" + os.urandom(16).hex()) is None  # <Reject>
            async with BrowserCaller(b.ws + "/browser/ws") as second:
                await second.wait_until(lambda: second.closed, timeout=10)
            assert second.close_code == 1013
            assert "every node is full" in second.close_reason
        # The slot comes back when the call ends, on whichever node asks.
        await wait_for_async(lambda: _calls_on(http, a, 0), timeout=10)
        async with BrowserCaller(b.ws + "/browser/ws") as third:
            await third.wait_until(lambda: third.log.played_ms(1) > 0, timeout=20)


async def test_a_node_killed_without_a_goodbye_drops_out_within_the_ttl(nodes):
    a = await nodes(cluster_max_calls="1")
    b = await nodes(cluster_max_calls="1")
    async with httpx.AsyncClient(timeout=5) as http:
        caller = BrowserCaller(a.ws + "/browser/ws")
        await caller.connect()
        await caller.wait_until(lambda: caller.log.played_ms(1) > 0, timeout=20)
        (held,) = await live_calls(http, b)
        os.killpg(os.getpgid(a.process.proc.pid), signal.SIGKILL)
        killed_at = time.monotonic()

        async def admits() -> bool:
            async with BrowserCaller(b.ws + "/browser/ws") as probe:
                await probe.wait_until(lambda: probe.closed or probe.welcome != {}, timeout=10)
                return probe.welcome != {}

        await wait_for_async(admits, timeout=TTL_S + 5)
        assert time.monotonic() - killed_at <= TTL_S + 5
        assert held["call_id"] not in [c["call_id"] for c in await live_calls(http, b)]
        await caller.hang_up()


async def test_redis_lost_mid_call_keeps_the_call_and_refuses_new_ones(nodes, redis):
    a = await nodes()
    async with httpx.AsyncClient(timeout=5) as http:
        async with BrowserCaller(a.ws + "/browser/ws") as caller:
            await caller.wait_until(lambda: caller.log.played_ms(1) >= 500, timeout=20)
            redis.kill()
            before = caller.log.played_ms(1)
            await caller.wait_until(lambda: caller.log.played_ms(1) >= before + 1000, timeout=10)
            assert not caller.closed
            async with BrowserCaller(a.ws + "/browser/ws") as newcomer:
                await newcomer.wait_until(lambda: newcomer.closed, timeout=10)
            assert newcomer.close_code == 1013
            assert "cluster cannot be reached" in newcomer.close_reason
            assert (await http.get(a.base + "/readyz")).status_code == 503
            scraped = (await http.get(a.base + "/metrics")).text
            assert re.search(r'sluice_cluster_redis_up\{[^}]*\} 0\.0', scraped)
            assert await webhook(http, a, "CA" + os.urandom(16).hex()) is None  # <Reject>
            assert caller.log.underruns(1) == (0, 0)


async def test_sigterm_drains_live_calls_then_exits(nodes):
    a = await nodes(drain_timeout_s="60")
    async with httpx.AsyncClient(timeout=5) as http:
        caller = BrowserCaller(a.ws + "/browser/ws")
        await caller.connect()
        await caller.wait_until(lambda: caller.log.played_ms(1) >= 500, timeout=20)
        assert (await http.get(a.base + "/readyz")).status_code == 200
        a.process.proc.send_signal(signal.SIGTERM)
        await wait_for_async(lambda: _not_ready(http, a), timeout=5)
        async with BrowserCaller(a.ws + "/browser/ws") as newcomer:
            await newcomer.wait_until(lambda: newcomer.closed, timeout=10)
        assert newcomer.close_code == 1013 and "shutting down" in newcomer.close_reason
        before = caller.log.played_ms(1)
        await caller.wait_until(lambda: caller.log.played_ms(1) >= before + 1000, timeout=10)
        assert not caller.closed and a.process.proc.poll() is None
        await caller.hang_up()
        await asyncio.to_thread(a.process.proc.wait, 15)
        assert a.process.proc.returncode == 0


async def _not_ready(http: httpx.AsyncClient, node: Node) -> bool:
    answer = await http.get(node.base + "/readyz")
    return answer.status_code == 503 and answer.json()["status"] == "draining"


async def test_a_restarted_redis_gets_the_live_calls_back(nodes, redis):
    """Redis keeps nothing across a restart (compose runs it without a disk):
    each node's next heartbeat writes its live calls and slots again, so they
    count against the limit and show in the registry."""
    a = await nodes(cluster_max_calls="1")
    async with httpx.AsyncClient(timeout=5) as http:
        async with BrowserCaller(a.ws + "/browser/ws") as caller:
            await caller.wait_until(lambda: caller.log.played_ms(1) > 0, timeout=20)
            redis.kill()
            redis.start()  # empty, on the same port

            async def registered_again() -> bool:
                return len(await live_calls(http, a)) == 1

            await wait_for_async(registered_again, timeout=TTL_S + 5)
            assert (await http.get(a.base + "/readyz")).status_code == 200
            async with BrowserCaller(a.ws + "/browser/ws") as second:
                await second.wait_until(lambda: second.closed, timeout=10)
            assert second.close_code == 1013 and "every node is full" in second.close_reason
            assert not caller.closed


async def test_the_workers_of_a_node_share_its_limit_through_redis(redis):
    """`--workers 2` with `redis_url`: each worker is a member, and `max_calls`
    counts the node's calls across both. Several callers spread over the two
    workers by the kernel; only one gets in."""
    port = free_port()
    env = {
        "SLUICE_REDIS_URL": redis.url,
        "SLUICE_NODE_URL": f"http://127.0.0.1:{port}",
        "SLUICE_MAX_CALLS": "1",
        "SLUICE_GREETING": GREETING,
    }
    process = await asyncio.to_thread(start_gateway, "--workers", "2", env=env, port=port)
    try:
        callers = [BrowserCaller(f"ws://127.0.0.1:{port}/browser/ws") for _ in range(12)]
        for caller in callers:
            await caller.connect()
        await asyncio.sleep(1)
        admitted = [c for c in callers if c.welcome]
        refused = [c for c in callers if c.closed]
        assert len(admitted) == 1 and len(refused) == 11
        assert all(c.close_code == 1013 for c in refused)
        async with httpx.AsyncClient(timeout=5) as http:
            scraped = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
        started, full = {}, {}
        for family in text_string_to_metric_families(scraped):
            for sample in family.samples:
                worker = sample.labels.get("worker")
                if sample.name == "sluice_calls_total":
                    started[worker] = started.get(worker, 0) + sample.value
                if sample.name == "sluice_protocol_errors_total" and (
                    sample.labels.get("kind") == "full"
                ):
                    full[worker] = full.get(worker, 0) + sample.value
        (holder,) = [w for w, n in started.items() if n == 1]
        other = "1" if holder == "0" else "0"
        # The worker with no call of its own refused too: the node's count is shared.
        assert full.get(other, 0) >= 1 and sum(full.values()) == 11
        for caller in callers:
            await caller.hang_up()
    finally:
        await asyncio.to_thread(process.stop)
