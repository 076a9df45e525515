"""Many calls at once: the gateway's CPU per call while each plays a long reply."""

from __future__ import annotations

import asyncio
import contextlib
import time
from functools import partial

from gateway.compare.harness import (
    QUESTION,
    Harness,
    Run,
    call_id_of,
    listening,
    synthetic_caller,
    until,
    until_record,
    wait_ended,
)
from gateway.compare.target import Target


async def many_run(run: Run, harness: Harness, target: Target) -> dict:
    """Many calls at once, each asking for a long story: the gateway's CPU per call."""
    n = harness.many_calls
    async with harness.route(run, target) as relays:
        callers = [synthetic_caller(run, relays) for _ in range(n)]
        ids: list[str] = []
        try:
            for caller in callers:
                await caller.connect()
                ids.append(call_id_of(caller))
                await asyncio.sleep(0.05)  # a ramp, not a thundering herd
            for call_id in ids:
                await until_record(partial(target.record, harness.http, call_id), listening, 30)
            for caller in callers:
                caller.say(harness.speech[QUESTION])
            await until(lambda: all(c.log.played_ms(2 if run.transport != "webrtc" else 1,
                                                    after=c.last_voiced_sent or 0) > 0
                                     for c in callers), 40)  # fmt: skip
            since = time.monotonic()
            cpu0 = await target.cpu_seconds(harness.http)
            await asyncio.sleep(harness.many_seconds)
            cpu1 = await target.cpu_seconds(harness.http)
            elapsed = time.monotonic() - since
            if run.transport == "webrtc":
                late = [c.late_frames(since) for c in callers]
            else:
                late = [c.log.underruns()[0] for c in callers]
            cores = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / elapsed
            return {
                "calls": n,
                "seconds": round(elapsed, 1),
                "gateway_cores": None if cores is None else round(cores, 3),
                "cpu_per_call_pct": None if cores is None else round(cores / n * 100, 2),
                "calls_with_underruns": sum(1 for x in late if x),
                "underruns": sum(late),
                "peak_client_buffer_ms": max(
                    (b for c in callers for _, b in c.log.buffer_ms), default=0.0
                ),
                "relayed_packets": relays.packets,
            }
        finally:
            await asyncio.gather(*(c.hang_up() for c in callers), return_exceptions=True)
            # Their teardown must not land in the next run's figures.
            for call_id in ids:
                with contextlib.suppress(Exception):
                    await wait_ended(partial(target.record, harness.http, call_id))
