"""Two nodes on one Redis: what the cluster costs a call, and what a node's
death costs the others.

A real `redis-server` and two `sluice serve` nodes, each pinned to a core of
its own (`--pin`); the callers run here, on loopback. Each call is a Twilio
call as Twilio makes it: the signed webhook on node A, the media stream with
A's token on node B, hung up once the greeting's first audio has arrived.

- Redis operations per call: Redis's own `INFO commandstats` over the calls,
  less what the nodes' heartbeats cost over the same time while idle.
- Setup latency: webhook round trip plus stream start to first audio, p50 and
  p99, for the same calls against a node with no Redis; the difference is
  what the cluster adds.
- A node's death: node A holds the cluster's only slot and is killed with
  SIGKILL; how long until node B admits a call.

    python -m bench.cluster [--calls 40] [--pin]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import signal
import statistics
import time

import httpx
import numpy as np
from twilio.request_validator import RequestValidator

from bench.common import start_gateway, write_json
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.local_services import RedisServer, free_port
from gateway.testing.twilio_caller import TwilioCaller

AUTH = "bench-auth-token"
TTL_S = 6.0


def node(redis: RedisServer | None, cpus: set[int] | None, **settings: str):
    port = free_port()
    env = {"SLUICE_TWILIO_AUTH_TOKEN": AUTH, "SLUICE_GREETING": "Hello there.",
           "SLUICE_CLUSTER_TTL_S": str(TTL_S),
           **{f"SLUICE_{k.upper()}": v for k, v in settings.items()}}  # fmt: skip
    if redis is not None:
        env |= {"SLUICE_REDIS_URL": redis.url, "SLUICE_NODE_URL": f"http://127.0.0.1:{port}"}
    return start_gateway(env=env, cpus=cpus, port=port)


def commands(redis: RedisServer) -> dict[str, int]:
    stats = redis.command("INFO", "commandstats")
    return {m[0]: int(m[1]) for m in re.findall(r"cmdstat_([a-z|]+):calls=(\d+)", stats)}


def total(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {
        k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) - before.get(k, 0)
    }


async def one_call(http: httpx.AsyncClient, webhook_node, stream_node) -> float:
    sid = "CA" + os.urandom(16).hex()
    url = f"http://127.0.0.1:{webhook_node.port}/twilio/voice"
    params = {"CallSid": sid, "AccountSid": "AC" + "0" * 32}
    signature = RequestValidator(AUTH).compute_signature(url, params)
    t0 = time.monotonic()
    answer = await http.post(url, data=params, headers={"X-Twilio-Signature": signature})
    token = re.search(r'name="sluice_token" value="([^"]+)"', answer.text).group(1)
    caller = TwilioCaller(f"ws://127.0.0.1:{stream_node.port}/twilio/media", token=token,
                          call_sid=sid)  # fmt: skip
    async with caller:
        await caller.wait_until(lambda: caller.received_media > 0, timeout=10)
        setup = time.monotonic() - t0
    return setup


async def setups(webhook_node, stream_node, calls: int) -> list[float]:
    async with httpx.AsyncClient(timeout=10) as http:
        await one_call(http, webhook_node, stream_node)  # warm both nodes
        return [await one_call(http, webhook_node, stream_node) for _ in range(calls)]


async def death(redis: RedisServer, cpus_a, cpus_b) -> float:
    a = node(redis, cpus_a, cluster_max_calls="1")
    b = node(redis, cpus_b, cluster_max_calls="1")
    try:
        holder = BrowserCaller(f"ws://127.0.0.1:{a.port}/browser/ws")
        await holder.connect()
        await holder.wait_until(lambda: holder.welcome != {}, timeout=10)
        os.killpg(os.getpgid(a.proc.pid), signal.SIGKILL)
        killed = time.monotonic()
        while True:
            async with BrowserCaller(f"ws://127.0.0.1:{b.port}/browser/ws") as probe:
                await probe.wait_until(lambda: probe.closed or probe.welcome != {}, timeout=10)
                if probe.welcome:
                    return time.monotonic() - killed
            await asyncio.sleep(0.1)
    finally:
        b.stop()


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)) * 1000, 1)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=40)
    parser.add_argument("--pin", action="store_true", help="node A on core 0, node B on core 1")
    args = parser.parse_args()
    cpus_a, cpus_b = ({0}, {1}) if args.pin else (None, None)
    redis = RedisServer().start()
    try:
        single = node(None, cpus_a)
        try:
            alone = await setups(single, single, args.calls)
        finally:
            single.stop()
        a, b = node(redis, cpus_a), node(redis, cpus_b)
        try:
            await asyncio.sleep(1)
            idle0, t_idle = commands(redis), time.monotonic()
            await asyncio.sleep(10)
            idle = total(idle0, commands(redis))
            idle_s = time.monotonic() - t_idle
            before, t0 = commands(redis), time.monotonic()
            clustered = await setups(a, b, args.calls)
            await asyncio.sleep(1)  # the last calls' end writes
            busy = total(before, commands(redis))
            busy_s = time.monotonic() - t0
        finally:
            a.stop()
            b.stop()
        heartbeat = {k: v * busy_s / idle_s for k, v in idle.items()}
        per_call = {k: round((v - heartbeat.get(k, 0)) / (args.calls + 1), 1)
                    for k, v in busy.items()}  # fmt: skip
        ops = round(sum(per_call.values()), 1)
        dead = [await death(redis, cpus_a, cpus_b) for _ in range(3)]
    finally:
        redis.kill()
    result = {
        "calls": args.calls,
        "ttl_s": TTL_S,
        "redis_ops_per_call": ops,
        "redis_ops_per_call_by_command": per_call,
        "heartbeat_ops_per_s_per_node": round(sum(idle.values()) / idle_s / 2, 2),
        "setup_ms_single_node": {"p50": pct(alone, 50), "p99": pct(alone, 99)},
        "setup_ms_cluster": {"p50": pct(clustered, 50), "p99": pct(clustered, 99)},
        "added_setup_ms": {
            "p50": round(pct(clustered, 50) - pct(alone, 50), 1),
            "p99": round(pct(clustered, 99) - pct(alone, 99), 1),
        },  # fmt: skip
        "slot_back_after_kill_s": [round(d, 2) for d in dead],
        "slot_back_after_kill_s_median": round(statistics.median(dead), 2),
    }
    print(
        f"Redis operations per call: {ops} ({per_call}); heartbeats "
        f"{result['heartbeat_ops_per_s_per_node']}/s per node\n"
        f"setup (webhook on A + stream on B to first audio): single node p50 "
        f"{result['setup_ms_single_node']['p50']} ms p99 {result['setup_ms_single_node']['p99']}"
        f" ms; cluster p50 {result['setup_ms_cluster']['p50']} ms p99 "
        f"{result['setup_ms_cluster']['p99']} ms; added p50 {result['added_setup_ms']['p50']} "
        f"ms p99 {result['added_setup_ms']['p99']} ms\n"
        f"a node killed: its slot back after {result['slot_back_after_kill_s']} s "
        f"(TTL {TTL_S:g} s)",
        flush=True,
    )
    write_json("cluster.json", result)


if __name__ == "__main__":
    asyncio.run(main())
