"""Calls per core as callers hear them: calls join at a stated rate, and every
caller counts gaps over its whole call, joins included.

Every call: caller audio in (comfort noise above the VAD's energy gate), the
agent speaking a long greeting out, marks echoed or grants sent by a client
that plays in real time. Twilio callers join through the webhook, each with
its own one-time stream token, as Twilio does.

The gateway runs in its own process tree; the callers run in another. With
`--pin` the whole gateway tree (every process and every thread, as
`taskset -a` would) is on CPU 0 and the callers on the others, so CPU per call
is the gateway's alone and the callers' own cost cannot show as its gaps.

    python -m bench.capacity --transport twilio|websocket|webrtc|<carrier> [--ladder 1,10,50,100]
        [--join-rate 10] [--hold 10] [--pin]

Per rung it reports first audio of the greeting (p50/p99/max, from the
caller's first request), callers that heard a gap and how much, the
gateway's own underrun count beside the callers', CPU per call over the whole
run, resident memory per call, and the gateway's worst event-loop lag.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import time

import httpx
import numpy as np
import psutil

from bench.calibration import calibrate
from bench.common import GatewayProcess, pinned_to, start_gateway, write_json
from gateway.pipeline.agent import _STORY
from gateway.testing.carrier_account import NEW_CARRIERS as CARRIERS

NOISE_DBFS = -45.0
PATHS = {"twilio": "/twilio/media", "websocket": "/browser/ws", "webrtc": "",
         **{c: f"/{c}/media" for c in CARRIERS}}  # fmt: skip
LADDERS = {"twilio": "1,10,50,100,200", "websocket": "1,10,50,100,200", "webrtc": "1,10,30",
           **{c: "1,10,50,100" for c in CARRIERS}}  # fmt: skip
JOIN_RATES = {"twilio": 10.0, "websocket": 10.0, "webrtc": 5.0, **{c: 10.0 for c in CARRIERS}}
LATE_MS = 40
"""A WebRTC frame later than the client's 40 ms playout cushion is a gap."""
_TOKEN = re.compile(r'name="sluice_token" value="([^"]+)"')


# ---- the callers' process -------------------------------------------------------


async def _join(transport: str, base: str, http: httpx.AsyncClient):
    ws = base.replace("http://", "ws://")
    if transport == "webrtc":
        from gateway.testing.webrtc_caller import WebRtcCaller

        caller = WebRtcCaller(base, noise_dbfs=NOISE_DBFS)
    elif transport == "twilio":
        from gateway.testing.twilio_caller import TwilioCaller

        call_sid = "CA" + secrets.token_hex(16)
        twiml = (await http.post(base + "/twilio/voice", data={"CallSid": call_sid})).text
        match = _TOKEN.search(twiml)
        caller = TwilioCaller(
            ws + PATHS["twilio"],
            token=match.group(1) if match else None,
            call_sid=call_sid,
            noise_dbfs=NOISE_DBFS,
        )
    elif transport in CARRIERS:
        from gateway.testing.carrier_caller import CarrierCaller

        # A development gateway (no carrier secrets): the stream needs no token.
        caller = CarrierCaller(transport, ws + PATHS[transport], noise_dbfs=NOISE_DBFS)
    else:
        from gateway.testing.browser_caller import BrowserCaller

        caller = BrowserCaller(ws + PATHS["websocket"], noise_dbfs=NOISE_DBFS)
    await caller.connect()
    return caller


def _figures(transport: str, caller, joined_at: float) -> dict:
    if transport == "webrtc":
        first = caller.arrivals[0][0] if caller.arrivals else None
        delays = caller.frame_delays_ms(joined_at)
        late = int(np.count_nonzero(delays > LATE_MS)) if delays.size else 0
        gaps, gap_ms = caller.late_runs(joined_at), late * 20  # a run of late frames is one gap
    else:
        first = caller.log.first_played(1)
        gaps, gap_ms = caller.log.underruns()
    return {
        "first_audio_ms": None if first is None else round((first - joined_at) * 1000, 1),
        "gaps": gaps,
        "gap_ms": gap_ms,
        "played_ms": caller.log.played_ms(1),
        "closed_early": getattr(caller, "close_code", None) is not None,
    }


async def _loop_lag(worst: list[float]) -> None:
    """The callers' own event-loop lag, reported beside their figures: a stall
    here would delay arrivals and be read as the gateway's."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], (time.monotonic() - start - 0.005) * 1000)


async def _run_callers(transport: str, base: str, calls: int, rate: float, hold_s: float) -> dict:
    gc.collect()
    gc.freeze()
    gc.disable()  # the callers are the instrument: no collector pauses in them
    worst_lag = [0.0]
    lag = asyncio.create_task(_loop_lag(worst_lag))
    joined: list[tuple[float, object]] = []
    async with httpx.AsyncClient(timeout=10) as http:
        print("MEASURE", flush=True)
        start = time.monotonic()

        async def one(i: int) -> None:
            await asyncio.sleep(max(0.0, start + i / rate - time.monotonic()))
            at = time.monotonic()
            joined.append((at, await _join(transport, base, http)))

        await asyncio.gather(*(one(i) for i in range(calls)))
        print("JOINED", flush=True)
        await asyncio.sleep(hold_s)
    print("DONE", flush=True)
    lag.cancel()
    per_call = [_figures(transport, caller, at) for at, caller in joined]
    for _, caller in joined:
        await caller.hang_up()
    gc.enable()
    return {"calls": per_call, "callers_max_loop_lag_ms": round(worst_lag[0], 1)}


def client_main(transport: str, base: str, calls: int, rate: float, hold_s: float) -> None:
    if transport == "webrtc":
        from transports.webrtc.aiortc_workarounds import advertise_host_addresses

        advertise_host_addresses(["127.0.0.1"])  # loopback only
    result = asyncio.run(_run_callers(transport, base, calls, rate, hold_s))
    print("RESULT " + json.dumps(result), flush=True)


# ---- the gateway's side ---------------------------------------------------------


def pin_tree(pid: int, cpus: set[int]) -> int:
    """Every process and thread of the tree on `cpus` (taskset -a); returns the
    number of threads pinned."""
    pinned = 0
    root = psutil.Process(pid)
    for process in [root, *root.children(recursive=True)]:
        try:
            for thread in process.threads():
                os.sched_setaffinity(thread.id, cpus)
                pinned += 1
        except (psutil.NoSuchProcess, ProcessLookupError):
            pass
    return pinned


def _metric(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith(name + "_"):
            total += float(line.split()[-1])
    return total


def _percentile(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def measure(
    gateway: GatewayProcess,
    transport: str,
    calls: int,
    rate: float,
    hold_s: float,
    gateway_cpus: set[int] | None,
    client_cpus: set[int] | None,
) -> dict:
    base = f"http://127.0.0.1:{gateway.port}"
    command = [
        sys.executable, "-m", "bench.capacity", "--client", str(calls), "--transport", transport,
        "--url", base, "--join-rate", str(rate), "--hold", str(hold_s),
    ]  # fmt: skip
    client = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(client_cpus)
    )
    assert client.stdout is not None
    client_process = psutil.Process(client.pid)
    idle_rss = gateway.rss_mb()
    cpu0 = t0 = client_cpu0 = 0.0
    joined_rss = threads = 0.0
    result: dict = {}
    for line in client.stdout:
        if line.startswith("MEASURE"):
            if gateway_cpus:
                pin_tree(gateway.proc.pid, gateway_cpus)
            cpu0, t0 = gateway.cpu_seconds(), time.monotonic()
            client_cpu0 = sum(client_process.cpu_times()[:2])
        elif line.startswith("JOINED"):
            if gateway_cpus:
                threads = pin_tree(gateway.proc.pid, gateway_cpus)  # threads born since
            joined_rss = gateway.rss_mb()
        elif line.startswith("DONE"):
            cpu = gateway.cpu_seconds() - cpu0
            client_cpu = sum(client_process.cpu_times()[:2]) - client_cpu0
            elapsed = time.monotonic() - t0
            metrics = httpx.get(base + "/metrics", timeout=5).text
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
    client.wait()
    per_call = result["calls"]
    firsts = [c["first_audio_ms"] for c in per_call if c["first_audio_ms"] is not None]
    cpu_per_call = cpu / elapsed / calls
    return {
        "calls": calls,
        "join_rate_per_s": rate,
        "seconds": round(elapsed, 2),
        "first_audio_p50_ms": _percentile(firsts, 50),
        "first_audio_p99_ms": _percentile(firsts, 99),
        "first_audio_max_ms": max(firsts) if firsts else None,
        "callers_without_audio": calls - len(firsts),
        "callers_with_gaps": sum(1 for c in per_call if c["gaps"]),
        "gap_ms_total": sum(c["gap_ms"] for c in per_call),
        "worst_call_gap_ms": max((c["gap_ms"] for c in per_call), default=0),
        "callers_gaps": sum(c["gaps"] for c in per_call),
        "gateway_underruns": _metric(metrics, "sluice_underruns_total"),
        "gateway_cpu_cores": round(cpu / elapsed, 3),
        "cpu_per_call": round(cpu_per_call, 5),
        "calls_per_core": round(1 / cpu_per_call, 1) if cpu_per_call else None,
        "gateway_rss_mb": round(joined_rss, 1),
        "rss_mb_per_call": round((joined_rss - idle_rss) / calls, 2),
        "gateway_max_loop_lag_ms": round(
            _metric(metrics, "sluice_event_loop_lag_max_seconds") * 1000, 1
        ),
        "gateway_max_gc_pause_ms": round(
            _metric(metrics, "sluice_gc_full_collection_max_seconds") * 1000, 1
        ),
        "gateway_full_collections": _metric(metrics, "sluice_gc_full_collection_seconds_count"),
        "gateway_threads_pinned": threads,
        "median_played_s": round(statistics.median(c["played_ms"] for c in per_call) / 1000, 1),
        "closed_early": sum(1 for c in per_call if c["closed_early"]),
        "callers_cpu_cores": round(client_cpu / elapsed, 3),
        "callers_max_loop_lag_ms": result["callers_max_loop_lag_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=sorted(PATHS), default="twilio")
    parser.add_argument("--ladder", help="calls per rung (default per transport)")
    parser.add_argument("--join-rate", type=float, help="calls joining per second")
    parser.add_argument("--hold", type=float, default=10.0, help="seconds after the last join")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument(
        "--pin", action="store_true", help="gateway tree on CPU 0, callers on the other CPUs"
    )
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    rate = args.join_rate or JOIN_RATES[args.transport]
    if args.client:
        client_main(args.transport, args.url, args.client, rate, args.hold)
        return

    gateway_cpus = client_cpus = None
    if args.pin:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            parser.error("--pin needs at least two CPUs")
        gateway_cpus, client_cpus = {available[0]}, set(available[1:])
    rows = []
    for calls in [int(n) for n in (args.ladder or LADDERS[args.transport]).split(",")]:
        # A fresh gateway per rung, so no rung inherits another's state.
        gateway = start_gateway(
            "--greeting", _STORY * 4, "--max-calls", "1000", "--workers", str(args.workers),
            "--webrtc-host-addresses", "127.0.0.1", "--carriers", "all", cpus=gateway_cpus,
        )  # fmt: skip
        try:
            row = measure(
                gateway, args.transport, calls, rate, args.hold, gateway_cpus, client_cpus
            )
        finally:
            gateway.stop()
        row["calibration"] = calibrate(gateway_cpus)
        rows.append(row)
        print(
            f"calibration on the gateway's CPU (bench.calibration): audio "
            f"{row['calibration']['audio_ms']} ms, python {row['calibration']['python_ms']} ms"
        )
        print(
            f"{row['calls']:>4} calls at {rate:g}/s  first audio p50 {row['first_audio_p50_ms']} "
            f"p99 {row['first_audio_p99_ms']} max {row['first_audio_max_ms']} ms  "
            f"gaps in {row['callers_with_gaps']} calls ({row['gap_ms_total']} ms; gateway counted "
            f"{row['gateway_underruns']:.0f}, callers {row['callers_gaps']})  "
            f"{row['cpu_per_call'] * 100:.2f} % of a core per call  "
            f"{row['rss_mb_per_call']} MB per call  "
            f"loop lag max {row['gateway_max_loop_lag_ms']} ms "
            f"(worst full GC {row['gateway_max_gc_pause_ms']} ms)  "
            f"(callers: {row['callers_cpu_cores']:.2f} cores, "
            f"lag {row['callers_max_loop_lag_ms']} ms)",
            flush=True,
        )
    name = f"capacity_{args.transport}" + (f"_{args.workers}w" if args.workers > 1 else "")
    name += "_pinned" if args.pin else ""
    path = write_json(
        f"{name}.json",
        {"benchmark": name, "transport": args.transport, "join_rate_per_s": rate,
         "hold_s": args.hold, "pinned": args.pin, "rows": rows},
    )  # fmt: skip
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
