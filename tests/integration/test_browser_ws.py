"""The browser WebSocket protocol with a Python client that behaves like the page."""

from __future__ import annotations

import asyncio

import pytest

from gateway.pipeline.agent import _STORY
from gateway.server.ws_protocol import ReadAheadProtocol
from gateway.testing.browser_caller import BrowserCaller
from tests.integration.helpers import SERVERS, listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(60)


def url(gw) -> str:
    return gw.ws_url + "/browser/ws"


@pytest.mark.parametrize("server", SERVERS)
async def test_a_browser_call_greets_hears_and_answers(gateway_factory, speech, server):
    gateway = await gateway_factory(ws_protocol=SERVERS[server])
    handed_over = ReadAheadProtocol.handed_over
    async with BrowserCaller(url(gateway)) as caller:
        call = await only_call(gateway.ctx)
        assert caller.welcome["window_ms"] == 800 and caller.welcome["sample_rate"] == 16000
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("I would like to order a large pizza please."))
        await wait_for(listening_after(call, 2), timeout=20)
    kinds = [e["type"] for e in caller.events]
    assert "transcript" in kinds and "agent_text" in kinds and "state" in kinds
    assert caller.log.played_ms(2) >= call.records[2].produced_ms - 40
    assert caller.log.underruns() == (0, 0)
    assert caller.errors == [] and caller.protocol_errors == []
    assert (ReadAheadProtocol.handed_over > handed_over) == (server == "hand-over")


async def test_barge_in_sends_clear_and_the_ring_is_emptied(gateway, speech):
    async with BrowserCaller(url(gateway)) as caller:
        call = await only_call(gateway.ctx)
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("Please tell me a long story."))
        await wait_for(lambda: caller.log.played_ms(2) >= 1500, timeout=20)
        caller.say(await speech("Stop. Wait a moment."))
        await wait_for(lambda: bool(caller.clears), timeout=10)
        # The clear goes at the caller's first voiced window; the barge-in is
        # confirmed once the voice has lasted (a provisional interrupt first).
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        interrupt = call.interrupts[-1]
        await asyncio.sleep(0.3)
        assert caller.buffered_ms == 0 or all(f[0] != 2 for f in caller._ring)
    _, clear = caller.clears[-1]
    assert clear["turn"] == 2 and clear["epoch"] == 1
    assert abs(clear["heard_ms"] - interrupt.heard_ms) <= 20
    assert caller.log.stale_ms(2, interrupt.at) < 60
    assert any(e["type"] == "interrupted" for e in caller.events)


async def test_the_window_holds_under_a_burst_and_grants_reopen_it(gateway_factory):
    gw = await gateway_factory(greeting=_STORY)
    async with BrowserCaller(url(gw), window_ms=600) as caller:
        call = await only_call(gw.ctx)
        await asyncio.sleep(4.0)
        assert caller.log.played_ms(1) >= 3500
    assert caller.welcome["window_ms"] == 600
    assert caller.peak_buffered_ms <= 600
    assert call.flow.window.peak_in_flight_ms <= 600
    assert caller.log.underruns() == (0, 0)


async def test_a_client_that_stops_granting_is_held_then_dropped(gateway_factory):
    gw = await gateway_factory(greeting=_STORY, stall_timeout_s=1.5)
    async with BrowserCaller(url(gw), grant=False) as caller:
        call = await only_call(gw.ctx)
        await wait_for(lambda: caller.received_ms >= 780, timeout=5)
        await asyncio.sleep(0.8)
        assert caller.received_ms <= 800 and not caller.closed
        await wait_for(lambda: caller.closed, timeout=5)
    assert (caller.close_code, caller.close_reason) == (1008, "playout stalled")
    assert call.end_reason == "playout stalled"


async def test_the_window_request_is_clamped_to_the_server_limits(gateway):
    async with BrowserCaller(url(gateway), window_ms=60_000) as big:
        assert big.welcome["window_ms"] == gateway.settings.browser_window_max_ms
    async with BrowserCaller(url(gateway), window_ms=1) as small:
        assert small.welcome["window_ms"] == gateway.settings.browser_window_min_ms


@pytest.mark.parametrize("audio_ms", [20, 100])
async def test_a_message_carries_at_most_the_audio_the_hello_asked_for(gateway, audio_ms):
    async with BrowserCaller(url(gateway), audio_ms=audio_ms) as caller:
        call = await only_call(gateway.ctx)
        assert caller.welcome["audio_ms"] == audio_ms
        await wait_for(listening_after(call, 1), timeout=15)
    assert caller.errors == [] and caller.protocol_errors == []
    assert caller.log.underruns() == (0, 0)
    played = caller.log.played_ms(1)
    assert played >= call.records[1].produced_ms - 40
    if audio_ms == 20:
        assert caller.largest_message_ms == 20 and caller.audio_messages == played // 20
    else:
        # The greeting goes out as credit comes back: several frames a message.
        assert caller.largest_message_ms == audio_ms
        assert caller.audio_messages < played // 20 // 3, (caller.audio_messages, played)
