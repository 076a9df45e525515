"""The impairer: a process of its own that holds one TUN device in each
namespace and moves every IP packet between them on the profile's terms.

    python -m gateway.compare.netpath.forwarder --profile '{"name": "4g", ...}' \\
        --caller-ns NS --gateway-ns NS --tag 0

It prints READY once both devices are up and addressed, and on SIGTERM or
SIGINT prints one line, CALIBRATION followed by JSON, and exits. A process of
its own, so that the gateway's or the callers' load never delays a packet.
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import json
import os
import signal

from gateway.compare.netpath import namespaces
from gateway.compare.netpath.calibration import DirectionRecord
from gateway.compare.netpath.packets import Fate, PacketImpairment, flow_of
from gateway.compare.netpath.tun import open_tun
from gateway.compare.profiles import Profile

CALLER_ADDRESS = "10.201.0.1"
GATEWAY_ADDRESS = "10.201.0.2"
MTU = 1500
MAX_READ = 65_535
EARLY_S = 0.0002
"""A packet due this soon is written now rather than waiting for another timer."""


class Direction:
    """One way across: packets read from one device wait in a heap until their
    instant, then are written to the other."""

    def __init__(self, impairment: PacketImpairment, out_fd: int) -> None:
        self.impairment = impairment
        self.out_fd = out_fd
        self.record = DirectionRecord()
        self._heap: list[tuple[float, int, bytes, float, Fate]] = []
        self._order = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = float("inf")

    def take(self, packet: bytes, now: float) -> None:
        self.record.read(now, len(packet))
        fate = self.impairment.schedule(now, len(packet), flow_of(packet))
        if fate.at is None:
            self.record.dropped(fate.reason)
            return
        heapq.heappush(self._heap, (fate.at, next(self._order), packet, now, fate))
        if fate.at < self._timer_at:
            self._arm(fate.at)

    def _arm(self, at: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().call_at(at, self._flush)

    def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        self._timer, self._timer_at = None, float("inf")
        while self._heap and self._heap[0][0] <= loop.time() + EARLY_S:
            _, _, packet, read_at, fate = heapq.heappop(self._heap)
            try:
                os.write(self.out_fd, packet)
            except OSError:  # the far device went away: the run is ending
                continue
            self.record.written(read_at, fate, loop.time(), len(packet))
        if self._heap:
            self._arm(self._heap[0][0])


def _drain(fd: int, direction: Direction) -> None:
    now = asyncio.get_running_loop().time()
    while True:
        try:
            packet = os.read(fd, MAX_READ)
        except BlockingIOError:
            return
        direction.take(packet, now)


def _bring_up(device: str, namespace: str, address: str, peer: str) -> None:
    namespaces.ip("link", "set", device, "netns", namespace)
    namespaces.ip("link", "set", device, "mtu", str(MTU), "up", namespace=namespace)
    namespaces.ip("addr", "add", f"{address}/32", "dev", device, namespace=namespace)
    namespaces.ip("route", "add", f"{peer}/32", "dev", device, namespace=namespace)


async def run(profile: Profile, caller_ns: str, gateway_ns: str, tag: str, seed: int) -> dict:
    caller_dev, gateway_dev = f"slc{tag}", f"slg{tag}"
    caller_fd, gateway_fd = open_tun(caller_dev), open_tun(gateway_dev)
    _bring_up(caller_dev, caller_ns, CALLER_ADDRESS, GATEWAY_ADDRESS)
    _bring_up(gateway_dev, gateway_ns, GATEWAY_ADDRESS, CALLER_ADDRESS)
    up = Direction(PacketImpairment(profile, seed), gateway_fd)  # caller to gateway
    down = Direction(PacketImpairment(profile, seed + 1), caller_fd)
    loop = asyncio.get_running_loop()
    loop.add_reader(caller_fd, _drain, caller_fd, up)
    loop.add_reader(gateway_fd, _drain, gateway_fd, down)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("READY", flush=True)
    await stop.wait()
    loop.remove_reader(caller_fd)
    loop.remove_reader(gateway_fd)
    os.close(caller_fd)
    os.close(gateway_fd)
    return {"up": up.record.summary(), "down": down.record.summary()}


PRIORITY = -10
"""Above the gateways, callers and browsers sharing the machine: their load
must not make a packet late (the calibration reports how late they were)."""


def main() -> None:
    os.nice(PRIORITY)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="the profile as JSON")
    parser.add_argument("--caller-ns", required=True)
    parser.add_argument("--gateway-ns", required=True)
    parser.add_argument("--tag", required=True, help="makes the device names unique")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    profile = Profile(**json.loads(args.profile))
    result = asyncio.run(run(profile, args.caller_ns, args.gateway_ns, args.tag, args.seed))
    print("CALIBRATION " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
