"""The gateway counts what the caller hears: a TTS slower than real time starves
the call on purpose, and the gateway's underrun count (metrics and the call
record) must agree with the gaps the caller's own playout record shows."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest

from gateway.pipeline.agent import _STORY
from gateway.runtime.services import Services
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(90)

GREETING = (
    "This is the first sentence of the greeting. Here is the second one, a little longer. "
    "A third sentence follows it. The fourth sentence comes next. And this is the last one."
)


class SlowTts:
    """Each sentence takes longer to make than the one before takes to play."""

    def __init__(self, inner, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    async def synthesize(self, text: str) -> bytes:
        await asyncio.sleep(self.delay_s)
        return await self.inner.synthesize(text)

    async def stream(self, text: str):
        yield await self.synthesize(text)

    def close(self) -> None:
        pass


@pytest.mark.parametrize("transport", ["twilio", "websocket"])
async def test_the_gateways_underruns_agree_with_the_callers_gaps(
    gateway_factory, services, transport
):
    slow = Services(
        stt=services.stt, tts=SlowTts(services.tts, 3.2), agent=services.agent, vad=services.vad
    )
    gw = await gateway_factory(slow, greeting=GREETING)
    caller_class, path = {
        "twilio": (TwilioCaller, "/twilio/media"),
        "websocket": (BrowserCaller, "/browser/ws"),
    }[transport]
    async with caller_class(gw.ws_url + path) as caller:
        call = await only_call(gw.ctx)
        await wait_for(listening_after(call, 1), timeout=40)
        heard, _ = caller.log.underruns(1)
        record = gw.ctx.records.get(call.call_id)
        assert record is not None
        assert heard >= 3, "the slow voice must starve the call"
        assert abs(record["underruns"] - heard) <= max(1, heard // 10), (record["underruns"], heard)
        async with httpx.AsyncClient() as client:
            metrics = (await client.get(gw.base_url + "/metrics")).text
        line = f'sluice_underruns_total{{transport="{transport}"}}'
        counted = float(next(x for x in metrics.splitlines() if x.startswith(line)).split()[-1])
        assert counted == record["underruns"]


async def test_a_starved_event_loop_counts_as_the_webrtc_callers_gaps(gateway_factory):
    """Over WebRTC the gateway paces the wire: a loop that wakes the track late
    sends frames after the receiver's cushion ran out. Each stall here blocks
    the one loop the gateway and the caller share, mid-sentence."""
    gw = await gateway_factory(greeting=GREETING, webrtc_host_addresses="127.0.0.1")
    async with WebRtcCaller(gw.base_url) as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: bool(caller.arrivals), timeout=10)
        started = caller.arrivals[0][0]
        await asyncio.sleep(1.0)
        stalls = 3
        for _ in range(stalls):
            time.sleep(0.2)  # noqa: ASYNC251 - the stall is the point
            await asyncio.sleep(1.0)
        heard = caller.late_runs(started)
        record = gw.ctx.records.get(call.call_id)
        assert record is not None
    assert heard >= stalls, heard
    assert abs(record["underruns"] - heard) <= max(1, heard // 10), (record["underruns"], heard)


def _call_on_its_own_loop(caller, done: threading.Event) -> threading.Thread:
    """The caller plays on its own thread and event loop, as a real far end
    would: a stall of the gateway's loop leaves it with nothing to play."""

    async def talk() -> None:
        async with caller:
            while not done.is_set():
                await asyncio.sleep(0.02)

    thread = threading.Thread(target=lambda: asyncio.run(talk()), daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize("transport", ["twilio", "websocket"])
async def test_a_starved_event_loop_counts_as_the_callers_gaps(gateway_factory, transport):
    """The far end paces these wires itself. A gateway loop that stalls for
    longer than the far end holds sends its next audio after the far end ran
    dry: each stall is a gap the caller hears, and the gateway counts it from
    its playout estimate, whatever the marks or acks say later."""
    gw = await gateway_factory(greeting=_STORY, twilio_window_ms=300)
    caller = {
        "twilio": lambda: TwilioCaller(gw.ws_url + "/twilio/media"),
        "websocket": lambda: BrowserCaller(gw.ws_url + "/browser/ws", window_ms=300),
    }[transport]()
    done = threading.Event()
    thread = _call_on_its_own_loop(caller, done)
    try:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: caller.log.first_played(1) is not None, timeout=10)
        await asyncio.sleep(1.0)
        stalls = 3
        for _ in range(stalls):
            time.sleep(0.6)  # noqa: ASYNC251 - the stall is the point
            await asyncio.sleep(1.5)
        record = gw.ctx.records.get(call.call_id)
        assert record is not None
        counted = record["underruns"]
    finally:
        done.set()
        await asyncio.to_thread(thread.join, 10)
    heard, _ = caller.log.underruns(1)
    assert heard >= stalls, heard
    assert abs(counted - heard) <= max(1, heard // 10), (counted, heard)
