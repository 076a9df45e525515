"""Calls joining quickly must not make the callers already talking hear a gap.

The gateway runs in its own process tree, pinned to one core; the callers run
here, on the other core. Thirty Twilio calls join through the webhook, each
with its own stream token, at 15 a second, while the first ones are speaking
a long greeting. Every caller counts gaps from its own playout record.
"""

from __future__ import annotations

import asyncio
import os

import httpx
import pytest

from bench.capacity import _figures, _join, pin_tree
from bench.common import start_gateway
from gateway.pipeline.agent import _STORY

pytestmark = pytest.mark.timeout(120)

CALLS = 30
RATE = 15.0


@pytest.fixture
def cores():
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        pytest.skip("needs two CPUs: one for the gateway, one for the callers")
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(available[1:]))
    yield {available[0]}
    os.sched_setaffinity(0, before)


async def test_a_burst_of_joins_leaves_no_gap_for_anyone_already_talking(cores):
    gateway = await asyncio.to_thread(
        start_gateway, "--greeting", _STORY, "--max-calls", "100", cpus=cores
    )
    base = f"http://127.0.0.1:{gateway.port}"
    joined: list[tuple[float, object]] = []
    try:
        pin_tree(gateway.proc.pid, cores)
        loop = asyncio.get_running_loop()
        async with httpx.AsyncClient(timeout=10) as http:
            start = loop.time()

            async def one(i: int) -> None:
                await asyncio.sleep(max(0.0, start + i / RATE - loop.time()))
                at = loop.time()
                joined.append((at, await _join("twilio", base, http)))

            await asyncio.gather(*(one(i) for i in range(CALLS)))
            await asyncio.sleep(3.0)
        figures = [_figures("twilio", caller, at) for at, caller in joined]
        assert all(f["first_audio_ms"] is not None for f in figures), (
            "every caller hears the greeting"
        )
        gaps = [(f["gaps"], f["gap_ms"]) for f in figures if f["gaps"]]
        assert not gaps, f"{len(gaps)} callers heard gaps: {gaps}"
        assert not any(f["closed_early"] for f in figures)
    finally:
        for _, caller in joined:
            await caller.hang_up()
        await asyncio.to_thread(gateway.stop)
