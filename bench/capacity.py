"""CPU per call with the whole pipeline, per transport, at a ladder of concurrent calls.

Every call: caller audio in (comfort noise above the VAD's energy gate, so
Silero runs on every window), continuous agent speech out (a greeting of
several minutes, synthesized sentence by sentence as the window allows), marks
echoed by a Twilio-faithful client that plays in real time.

The gateway runs in its own process; the callers run in another, so the CPU
figure is the gateway's alone (its STT worker processes included).

    python -m bench.capacity --transport twilio|websocket|webrtc [--ladder 1,10,50,100]
        [--seconds 20] [--workers N] [--pin]

`--pin` puts the gateway (and its STT workers) on CPU 0 and the callers on the
other CPUs, so "calls per core" is measured on one core that nothing else
uses, and the callers' own cost cannot show up as the gateway's frame delay.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np
import psutil

from bench.common import GatewayProcess, pinned_to, start_gateway, write_json
from gateway.pipeline.agent import _STORY

NOISE_DBFS = -45.0


PATHS = {"twilio": "/twilio/media", "websocket": "/browser/ws", "webrtc": ""}
LATE_MS = 40
"""A WebRTC frame later than the client's 40 ms playout cushion is an underrun."""


def _caller(transport: str, url: str):
    if transport == "webrtc":
        from gateway.testing.webrtc_caller import WebRtcCaller

        return WebRtcCaller(url, noise_dbfs=NOISE_DBFS)
    if transport == "twilio":
        from gateway.testing.twilio_caller import TwilioCaller

        return TwilioCaller(url, noise_dbfs=NOISE_DBFS)
    from gateway.testing.browser_caller import BrowserCaller

    return BrowserCaller(url, noise_dbfs=NOISE_DBFS)


def _webrtc_figures(caller, since: float) -> dict:
    delays = caller.frame_delays_ms(since)
    late = caller.late_frames(since)
    arrivals = [t for t, _ in caller.arrivals if t >= since]
    late_at = [round(arrivals[i] - since, 2) for i in np.flatnonzero(delays > LATE_MS)]
    return {
        "underruns": late,
        "underrun_ms": late * 20,
        "played_ms": caller.log.played_ms(1),
        "peak_buffer_ms": None,
        "p95_frame_delay_ms": round(float(np.percentile(delays, 95)), 1) if delays.size else None,
        "max_frame_delay_ms": round(float(delays.max()), 1) if delays.size else None,
        "late_at_s": late_at,
        "frames": int(delays.size),
        "closed_early": False,
    }


def _stream_figures(caller) -> dict:
    count, ms = caller.log.underruns()
    return {
        "underruns": count,
        "underrun_ms": ms,
        "played_ms": caller.log.played_ms(1),
        "peak_buffer_ms": caller.peak_buffered_ms,
        "closed_early": caller.close_code is not None,
    }


async def _loop_lag(worst: list[float]) -> None:
    """The callers' own event-loop lag: a stall here delays arrivals and would be
    read as the gateway's frame delay, so it is reported beside it."""
    while True:
        start = time.monotonic()
        await asyncio.sleep(0.005)
        worst[0] = max(worst[0], (time.monotonic() - start - 0.005) * 1000)


async def _run_callers(transport: str, url: str, calls: int, seconds: float, warmup: float) -> dict:
    callers = [_caller(transport, url) for _ in range(calls)]
    for caller in callers:
        await caller.connect()
        await asyncio.sleep(0.02)  # a ramp, not a thundering herd
    # The callers are the instrument: no collector pauses in them while measuring
    # (the collection here stalls them too, so it happens before the warm-up).
    gc.collect()
    gc.freeze()
    gc.disable()
    await asyncio.sleep(warmup)
    worst_lag = [0.0]
    lag = asyncio.create_task(_loop_lag(worst_lag))
    since = time.monotonic()
    print("MEASURE", flush=True)
    await asyncio.sleep(seconds)
    print("DONE", flush=True)
    lag.cancel()
    gc.enable()
    if transport == "webrtc":
        per_call = [_webrtc_figures(c, since) for c in callers]
    else:
        per_call = [_stream_figures(c) for c in callers]
    for caller in callers:
        await caller.hang_up()
    return {"calls": per_call, "callers_max_loop_lag_ms": round(worst_lag[0], 1)}


def client_main(transport: str, url: str, calls: int, seconds: float, warmup: float) -> None:
    if transport == "webrtc":
        from transports.webrtc.aiortc_workarounds import advertise_host_addresses

        advertise_host_addresses(["127.0.0.1"])  # loopback only
    result = asyncio.run(_run_callers(transport, url, calls, seconds, warmup))
    print("RESULT " + json.dumps(result), flush=True)


def _p95_over_calls(per_call: list[dict]) -> float | None:
    """The worst call's p95 frame delay: capacity needs every call under the bound."""
    values = [c["p95_frame_delay_ms"] for c in per_call if c.get("p95_frame_delay_ms") is not None]
    return max(values) if values else None


def _url(gateway: GatewayProcess, transport: str) -> str:
    if transport == "webrtc":
        return f"http://127.0.0.1:{gateway.port}"
    return gateway.ws_url + PATHS[transport]


def measure(
    gateway: GatewayProcess,
    transport: str,
    calls: int,
    seconds: float,
    warmup: float,
    client_cpus: set[int] | None = None,
) -> dict:
    command = [
        sys.executable, "-m", "bench.capacity", "--client", str(calls),
        "--transport", transport, "--url", _url(gateway, transport),
        "--seconds", str(seconds), "--warmup", str(warmup),
    ]  # fmt: skip
    client = subprocess.Popen(
        command, stdout=subprocess.PIPE, text=True, preexec_fn=pinned_to(client_cpus)
    )
    assert client.stdout is not None
    client_process = psutil.Process(client.pid)
    cpu0 = t0 = rss0 = client_cpu0 = client_cpu = 0.0
    idle_rss = gateway.rss_mb()
    result: dict = {}
    for line in client.stdout:
        if line.startswith("MEASURE"):
            cpu0, t0, rss0 = gateway.cpu_seconds(), time.monotonic(), gateway.rss_mb()
            client_cpu0 = sum(client_process.cpu_times()[:2])
        elif line.startswith("DONE"):
            cpu = gateway.cpu_seconds() - cpu0
            client_cpu = sum(client_process.cpu_times()[:2]) - client_cpu0
            elapsed = time.monotonic() - t0
            rss = gateway.rss_mb()
        elif line.startswith("RESULT "):
            result = json.loads(line[7:])
    client.wait()
    per_call = result["calls"]
    cpu_per_call = cpu / elapsed / calls
    return {
        "calls": calls,
        "seconds": round(elapsed, 2),
        "gateway_cpu_cores": round(cpu / elapsed, 3),
        "callers_cpu_cores": round(client_cpu / elapsed, 3),
        "cpu_per_call": round(cpu_per_call, 5),
        "calls_per_core": round(1 / cpu_per_call, 1) if cpu_per_call else None,
        "calls_with_underruns": sum(1 for c in per_call if c["underruns"]),
        "underrun_ms_total": sum(c["underrun_ms"] for c in per_call),
        "peak_client_buffer_ms": max((c["peak_buffer_ms"] or 0) for c in per_call),
        "p95_frame_delay_ms": _p95_over_calls(per_call),
        "late_frames_per_call": [c["underruns"] for c in per_call],
        "played_s_per_call": [round(c["played_ms"] / 1000, 1) for c in per_call],
        "late_frames_at_s": sorted(t for c in per_call for t in c.get("late_at_s", [])),
        "max_frame_delay_ms": max((c.get("max_frame_delay_ms") or 0) for c in per_call),
        "median_played_s": round(statistics.median(c["played_ms"] for c in per_call) / 1000, 1),
        "closed_early": sum(1 for c in per_call if c["closed_early"]),
        "callers_max_loop_lag_ms": result["callers_max_loop_lag_ms"],
        "gateway_rss_mb": round(rss, 1),
        "rss_mb_per_call": round((rss - idle_rss) / calls, 2),
        "rss_growth_mb_while_measuring": round(rss - rss0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transport", choices=sorted(PATHS), default="twilio")
    parser.add_argument("--ladder", default="1,10,50,100")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes")
    parser.add_argument(
        "--pin", action="store_true", help="gateway on CPU 0, callers on the other CPUs"
    )
    parser.add_argument("--client", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client:
        client_main(args.transport, args.url, args.client, args.seconds, args.warmup)
        return

    gateway_cpus = client_cpus = None
    if args.pin:
        available = sorted(os.sched_getaffinity(0))
        if len(available) < 2:
            parser.error("--pin needs at least two CPUs")
        gateway_cpus, client_cpus = {available[0]}, set(available[1:])
    rows = []
    for calls in [int(n) for n in args.ladder.split(",")]:
        # A fresh gateway per rung, so no rung inherits another's state.
        gateway = start_gateway(
            "--greeting", _STORY * 4, "--max-calls", "1000", "--workers", str(args.workers),
            "--webrtc-host-addresses", "127.0.0.1", cpus=gateway_cpus,
        )  # fmt: skip
        try:
            row = measure(gateway, args.transport, calls, args.seconds, args.warmup, client_cpus)
        finally:
            gateway.stop()
        rows.append(row)
        print(
            f"{row['calls']:>4} calls  gateway {row['gateway_cpu_cores']:.3f} cores  "
            f"{row['cpu_per_call'] * 100:.2f} % of a core per call  "
            f"({row['calls_per_core']} calls/core)  underruns in {row['calls_with_underruns']} "
            f"calls  peak client buffer {row['peak_client_buffer_ms']:.0f} ms  "
            f"p95 frame delay {row['p95_frame_delay_ms']} ms  "
            f"(callers used {row['callers_cpu_cores']:.2f} cores, "
            f"their worst loop lag {row['callers_max_loop_lag_ms']} ms)",
            flush=True,
        )
    name = f"capacity_{args.transport}" + (f"_{args.workers}w" if args.workers > 1 else "")
    name += "_pinned" if args.pin else ""
    path = write_json(
        f"{name}.json",
        {
            "benchmark": name,
            "transport": args.transport,
            "workers": args.workers,
            "pinned": args.pin,
            "rows": rows,
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
