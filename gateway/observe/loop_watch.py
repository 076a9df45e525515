"""How late the event loop runs: the lag every caller on this process shares.

A sleep of 50 ms that wakes later than asked measures everything else that
held the loop meanwhile (a join's setup, a decode, a collector pause). The
worst lag is what a caller would hear as a late frame.
"""

from __future__ import annotations

import asyncio
import gc
import time

from gateway.observe.metrics import GatewayMetrics

PERIOD_S = 0.05


async def watch_loop(metrics: GatewayMetrics) -> None:
    while True:
        start = time.perf_counter()
        await asyncio.sleep(PERIOD_S)
        lag = max(0.0, time.perf_counter() - start - PERIOD_S)
        metrics.loop_lag.observe(lag)
        if lag > metrics.loop_lag_max._value.get():
            metrics.loop_lag_max.set(lag)


def watch_collector(metrics: GatewayMetrics) -> None:
    """Times every garbage collection: a full one stalls every call at once."""
    started: list[float] = [0.0]

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        elif info.get("generation") == 2:
            pause = time.perf_counter() - started[0]
            metrics.gc_pause.observe(pause)
            if pause > metrics.gc_pause_max._value.get():
                metrics.gc_pause_max.set(pause)

    gc.callbacks.append(on_gc)
