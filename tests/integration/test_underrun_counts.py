"""The gateway counts what the caller hears: a TTS slower than real time starves
the call on purpose, and the gateway's underrun count (metrics and the call
record) must agree with the gaps the caller's own playout record shows."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from gateway.services import Services
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
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
