"""`sluice serve --workers N`: calls spread over workers, each held by one, and a
hang-up that lands on the wrong worker still reaches its call."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest

from gateway.testing.webrtc_caller import WebRtcCaller
from transports.webrtc.aiortc_workarounds import advertise_host_addresses

pytestmark = pytest.mark.timeout(90)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_two_workers_share_the_port_and_route_hang_ups(tmp_path):
    port = free_port()
    log = open(tmp_path / "serve.log", "w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway.cli", "serve", "--port", str(port), "--workers", "2",
         "--webrtc-host-addresses", "127.0.0.1", "--greeting", "Hello there."],
        stdout=log, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    advertise_host_addresses(["127.0.0.1"])  # this process's client peers
    try:
        ports: list[int] = []
        deadline = time.monotonic() + 60
        while len(ports) < 2:
            assert proc.poll() is None and time.monotonic() < deadline, "workers did not start"
            log.seek(0)
            found = re.search(r"private ports \[(\d+), (\d+)\]", log.read())
            ports = [int(p) for p in found.groups()] if found else []
            await asyncio.sleep(0.2)
        async with httpx.AsyncClient() as http:
            while True:
                try:
                    if all([(await http.get(f"http://127.0.0.1:{p}/healthz")).status_code == 200
                            for p in ports]):  # fmt: skip
                        break
                except httpx.HTTPError:
                    pass
                assert time.monotonic() < deadline, "workers not healthy"
                await asyncio.sleep(0.3)

            callers = [WebRtcCaller(base) for _ in range(10)]
            await asyncio.gather(*(c.connect() for c in callers))
            owners = {c.resource.split("/")[-1].split(".")[0] for c in callers}
            assert owners == {"w0", "w1"}, owners

            async def calls_on(p: int) -> int:
                return (await http.get(f"http://127.0.0.1:{p}/healthz")).json()["calls"]

            deadline = time.monotonic() + 10
            while sum([await calls_on(p) for p in ports]) < 10:  # slots follow ICE and DTLS
                assert time.monotonic() < deadline, "calls did not connect"
                await asyncio.sleep(0.2)
            # One scrape covers the node: every worker's samples, labelled.
            from prometheus_client.parser import text_string_to_metric_families

            scraped = (await http.get(base + "/metrics")).text
            calls = [s for f in text_string_to_metric_families(scraped)
                     if f.name == "sluice_calls" for s in f.samples
                     if s.name == "sluice_calls_total"]  # fmt: skip
            assert {s.labels["worker"] for s in calls} == {"0", "1"}
            assert sum(s.value for s in calls) == 10
            # Any local process reaches the private ports: they serve no call entry,
            # and no record without the workers' secret.
            private = f"http://127.0.0.1:{ports[0]}"
            assert (await http.get(private + "/calls")).status_code == 404
            assert (await http.post(private + "/twilio/voice", data={})).status_code == 404
            assert (await http.get(private + "/")).status_code == 404
            # Hang up through the public port: some DELETEs land on the other worker.
            statuses = [(await http.delete(base + c.resource)).status_code for c in callers]
            assert statuses == [200] * 10
            for c in callers:
                await c.hang_up(delete=False)
            deadline = time.monotonic() + 10
            while sum([await calls_on(p) for p in ports]):
                assert time.monotonic() < deadline, "calls did not end"
                await asyncio.sleep(0.2)
    finally:
        advertise_host_addresses([])
        proc.terminate()
        proc.wait(20)
        log.close()
