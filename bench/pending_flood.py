"""What a flood of WebRTC offers that never connect costs a gateway: slots, memory,
and what happens to the sessions. The audit that found the hole measured +1,794 MB
for 200 offers (a voice detector per session) and every slot taken.

    python -m bench.pending_flood --offers 200

Run it inside a loopback-only namespace (`unshare -n sh -c 'ip link set lo up; …'`)
as the tests do, so ICE has nothing but 127.0.0.1. Prints the figures and writes
bench/results/pending_flood.json.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import httpx
from aiortc import RTCConfiguration, RTCPeerConnection

from bench.common import start_gateway, write_json

TOKEN = "bench-token"


async def _offer_sdp() -> str:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTransceiver("audio")
    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    await pc.close()
    return sdp


def _metric(text: str, prefix: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(prefix))


async def run(offers: int, settle_s: float) -> dict:
    gateway = start_gateway("--webrtc-host-addresses", "127.0.0.1",
                            env={"SLUICE_BROWSER_TOKEN": TOKEN})  # fmt: skip
    base = f"http://127.0.0.1:{gateway.port}"
    try:
        sdp = await _offer_sdp()
        headers = {"content-type": "application/sdp", "authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(timeout=10) as http:
            before = gateway.rss_mb()
            peak, slots, statuses = before, 0, {}
            began = time.monotonic()
            for i in range(offers):
                answer = await http.post(base + "/webrtc/whip", content=sdp, headers=headers)
                statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1
                if i % 20 == 0:
                    peak = max(peak, gateway.rss_mb())
                    slots = max(slots, (await http.get(base + "/healthz")).json()["calls"])
            posted_s = time.monotonic() - began
            await asyncio.sleep(settle_s)
            metrics = (await http.get(base + "/metrics")).text
            after = gateway.rss_mb()
    finally:
        gateway.stop()
    return {
        "offers": offers,
        "statuses": statuses,
        "posted_in_s": round(posted_s, 2),
        "max_slots_taken": slots,
        "rss_mb": {"before": round(before), "peak": round(peak), "after_settle": round(after)},
        "settle_s": settle_s,
        "pending_after_settle": _metric(metrics, "sluice_pending_connections "),
        "evicted": _metric(metrics, 'sluice_protocol_errors_total{kind="evicted"'),
        "connect_timeouts": _metric(metrics, 'sluice_protocol_errors_total{kind="connect_timeout"'),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--offers", type=int, default=200)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to wait after")
    args = parser.parse_args()
    result = asyncio.run(run(args.offers, args.settle))
    rss = result["rss_mb"]
    print(
        f"{result['offers']} offers, none connecting: answers {result['statuses']}, "
        f"at most {result['max_slots_taken']} slots taken; RSS {rss['before']} MB before, "
        f"{rss['peak']} MB at peak, {rss['after_settle']} MB {result['settle_s']:g} s later; "
        f"{result['evicted']:.0f} evicted, {result['connect_timeouts']:.0f} timed out, "
        f"{result['pending_after_settle']:.0f} still pending"
    )
    print(write_json("pending_flood.json", result))


if __name__ == "__main__":
    main()
