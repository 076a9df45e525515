"""The window holds under a TTS far faster than real time, and a stalled listener ends the call."""

from __future__ import annotations

import asyncio
import logging
import os

import psutil
import pytest

from gateway.pipeline.agent import _STORY
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import only_call, wait_for


@pytest.mark.timeout(120)
async def test_window_holds_and_memory_stays_flat_through_a_60_second_reply(gateway_factory):
    # eSpeak makes audio about a thousand times faster than real time; the
    # greeting is a reply of well over a minute, all of it ready at once.
    gw = await gateway_factory(greeting=_STORY * 2)
    window = gw.settings.twilio_window_ms
    process = psutil.Process(os.getpid())
    rss: list[int] = []
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx)
        for _ in range(60):
            await asyncio.sleep(1.0)
            rss.append(process.memory_info().rss)
            assert call.flow.window.in_flight_ms <= window
            assert call.queue.buffered_ms <= call.queue.limit_ms
        assert caller.log.played_ms(1) >= 58_000

    assert caller.peak_buffered_ms <= window, caller.peak_buffered_ms
    assert call.flow.window.peak_in_flight_ms <= window
    assert caller.log.underruns() == (0, 0)
    settled = rss[10:]
    growth_mb = (max(settled) - min(settled)) / 2**20
    assert growth_mb < 16, f"RSS moved {growth_mb:.1f} MB during the reply"


@pytest.mark.timeout(30)
async def test_a_listener_that_stops_confirming_is_held_then_dropped(gateway_factory, caplog):
    gw = await gateway_factory(greeting=_STORY, stall_timeout_s=2.0)
    window = gw.settings.twilio_window_ms
    caplog.set_level(logging.WARNING)
    async with TwilioCaller(gw.ws_url + "/twilio/media", echo_marks=False) as caller:
        call = await only_call(gw.ctx)
        await wait_for(lambda: caller.received_ms >= window - 40, timeout=5)
        await asyncio.sleep(1.0)
        # Window full, no echoes: nothing more is sent, and the call is still up.
        assert caller.received_ms <= window
        assert not caller.closed
        await wait_for(lambda: caller.closed, timeout=5)

    assert caller.close_code == 1008
    assert caller.close_reason == "playout stalled"
    assert call.end_reason == "playout stalled"
    assert any("no playout confirmation for 2 s" in r.getMessage() for r in caplog.records)
    assert not gw.ctx.calls
