"""Bad input on every carrier's stream: each class of malformed message gets
its close code, a metric and a log line, and a healthy call on the same
carrier, beside it, plays on without a gap."""

from __future__ import annotations

import asyncio
import logging

import pytest
import websockets

from gateway.pipeline.agent import _STORY
from gateway.testing.carrier_caller import CarrierCaller
from gateway.testing.far_ends import FAR_ENDS
from tests.integration.carriers import NEW_CARRIERS
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.timeout(90)

BINARY_MEDIA = {"vonage", "asterisk"}

# (what is sent after a valid opening, close code, error kind) per carrier
FATAL: dict[str, list[tuple[str, list[str | bytes], int, str]]] = {}
for _carrier in NEW_CARRIERS:
    if _carrier in BINARY_MEDIA:
        FATAL[_carrier] = [
            ("oversized binary", [b"\x00" * 70_000], 1009, "oversized"),
            ("oversized text", ["x" * 70_000], 1009, "oversized"),
            ("garbage", ["{oops"] * 25, 1008, "not_json"),
            ("unknown events", ["TELEPORT now"] * 25, 1008,
             "unknown_event" if _carrier == "asterisk" else "not_json"),
        ]  # fmt: skip
    else:
        FATAL[_carrier] = [
            ("binary frame", [b"\x00\x01binary"], 1003, "binary_frame"),
            ("oversized text", ["x" * 200_000], 1009, "oversized"),  # under the server's 256 KiB
            ("garbage", ["{oops"] * 25, 1008, "not_json"),
        ]


def errors_of(gw, carrier: str, kind: str) -> float:
    return gw.ctx.metrics.protocol_errors.labels(carrier, kind)._value.get()


async def close_after(url: str, messages: list[str | bytes]) -> tuple[int | None, str]:
    async with websockets.connect(url, max_queue=None, max_size=2**22) as ws:
        for message in messages:
            try:
                await ws.send(message)
            except websockets.ConnectionClosed:
                break
        try:
            async with asyncio.timeout(10):
                async for _ in ws:
                    pass
        except websockets.ConnectionClosed:
            pass
        return ws.close_code, ws.close_reason


@pytest.mark.parametrize("carrier", NEW_CARRIERS)
async def test_malformed_messages_get_their_close_codes_and_the_call_beside_plays_on(
    gateway_factory, caplog, carrier
):
    caplog.set_level(logging.WARNING)
    # A development gateway: every stream is admitted, so each reaches the parser.
    gw = await gateway_factory(greeting=_STORY, carriers=carrier)
    url = f"{gw.ws_url}/{carrier}/media"
    async with CarrierCaller(carrier, url) as healthy:
        await wait_for(lambda: healthy.log.played_ms(1) >= 500, timeout=10)
        for label, messages, code, kind in FATAL[carrier]:
            before = errors_of(gw, carrier, kind)
            opening = FAR_ENDS[carrier]().opening()
            got, reason = await close_after(url, [*opening, *messages])
            assert got == code, (label, got, reason)
            assert errors_of(gw, carrier, kind) > before, label
            assert any(f"{carrier} protocol error" in r.getMessage() for r in caplog.records)
        # Audio before the stream has started is out of order.
        before = errors_of(gw, carrier, "out_of_order")
        far = FAR_ENDS[carrier]()
        got, _ = await close_after(url, [far.mic(far.wire.silence(far.wire.frame_bytes))])
        assert got == 1008 and errors_of(gw, carrier, "out_of_order") == before + 1
        # An acknowledgement of a point never sent is counted, and the stream goes on.
        before = errors_of(gw, carrier, "unknown_mark")
        async with websockets.connect(url) as ws:
            for message in far.opening():
                await ws.send(message)
            await ws.send(far.ack("never-sent"))
            await wait_for(lambda: errors_of(gw, carrier, "unknown_mark") == before + 1, 5)
            await asyncio.sleep(0.3)
            assert ws.close_code is None
        await wait_for(lambda: len(gw.ctx.calls) == 1, timeout=5)
        await asyncio.sleep(0.5)
        assert not healthy.closed
        assert healthy.log.underruns() == (0, 0)
        assert not healthy.problems
