"""Bad input on the browser endpoint: a clear error or close code, and no harm to other calls."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from gateway.pipeline.agent import _STORY
from gateway.testing.browser_caller import BrowserCaller
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def busy(gateway_factory):
    gw = await gateway_factory(greeting=_STORY, browser_token="s3cret", max_calls=3)
    healthy = BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret")
    await healthy.connect()
    await wait_for(lambda: healthy.log.played_ms(1) >= 400, timeout=10)
    yield gw, healthy
    await healthy.hang_up()


def unharmed(caller: BrowserCaller) -> None:
    assert not caller.closed
    assert caller.log.underruns() == (0, 0)
    assert caller.errors == [] and caller.protocol_errors == []


def errors_of(gw, kind: str) -> float:
    return gw.ctx.metrics.protocol_errors.labels("websocket", kind)._value.get()


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("{broken", "not_json"),
        (json.dumps({"type": "teleport"}), "unknown_type"),
        (bytes(100), "bad_frame"),
        (json.dumps({"type": "grant", "ms": -20, "epoch": 0}), "bad_grant"),
        (json.dumps({"type": "grant", "ms": 10**9, "epoch": 0}), "bad_grant"),
        (json.dumps({"type": "grant", "ms": "lots", "epoch": 0}), "malformed"),
        (json.dumps({"type": "played", "turn": 99, "position_ms": 5}), "bad_played"),
    ],
    ids=[
        "not-json",
        "unknown-type",
        "short-frame",
        "negative-grant",
        "absurd-grant",
        "string-grant",
        "impossible-played",
    ],
)
async def test_bad_messages_get_an_error_and_the_call_goes_on(busy, message, kind):
    gw, healthy = busy
    before = errors_of(gw, kind)
    async with BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret") as caller:
        await caller.send_raw(message)
        await wait_for(lambda: bool(caller.protocol_errors), timeout=5)
        await asyncio.sleep(0.3)
        assert not caller.closed
        assert caller.received_ms > 0
    assert caller.protocol_errors[0]["code"] == kind and not caller.protocol_errors[0]["fatal"]
    assert errors_of(gw, kind) == before + 1
    unharmed(healthy)


async def test_an_oversized_frame_closes_with_1009(busy):
    gw, healthy = busy
    async with BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret") as caller:
        await caller.send_raw(bytes(200_000))
        await wait_for(lambda: caller.closed, timeout=5)
    assert caller.close_code == 1009
    unharmed(healthy)


@pytest.mark.parametrize("token", ["", "guess"])
async def test_a_missing_or_wrong_token_is_refused(busy, token):
    gw, healthy = busy
    caller = BrowserCaller(gw.ws_url + "/browser/ws", token=token)
    await caller.connect()
    assert caller.close_code == 1008
    assert caller.protocol_errors[0]["code"] == "bad_token" and caller.protocol_errors[0]["fatal"]
    unharmed(healthy)


async def test_a_disallowed_origin_is_refused_at_the_handshake(busy):
    gw, healthy = busy
    caller = BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret", origin="https://evil.example")
    with pytest.raises(websockets.InvalidStatus) as info:
        await caller.connect()
    assert info.value.response.status_code == 403
    assert errors_of(gw, "bad_origin") == 1
    unharmed(healthy)


async def test_the_same_origin_is_allowed_by_default(busy):
    gw, healthy = busy
    host = gw.base_url.removeprefix("http://")
    async with BrowserCaller(
        gw.ws_url + "/browser/ws", token="s3cret", origin=f"http://{host}"
    ) as c:
        await wait_for(lambda: c.received_ms > 0, timeout=5)


async def test_a_full_gateway_refuses_with_a_retry_hint(busy):
    gw, healthy = busy
    others = [BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret") for _ in range(2)]
    for other in others:
        await other.connect()
    refused = BrowserCaller(gw.ws_url + "/browser/ws", token="s3cret")
    await refused.connect()
    for other in others:
        await other.hang_up()
    assert refused.close_code == 1013
    error = refused.protocol_errors[0]
    assert error["code"] == "full" and error["retry_after_s"] == gw.settings.retry_after_s
    unharmed(healthy)


async def test_no_hello_in_time_is_refused(gateway_factory):
    gw = await gateway_factory(browser_hello_timeout_s=0.3)
    async with websockets.connect(gw.ws_url + "/browser/ws") as ws:
        first = json.loads(await ws.recv())
        with pytest.raises(websockets.ConnectionClosed):
            await ws.recv()
    assert first["code"] == "no_hello" and ws.close_code == 1008


async def test_a_peer_that_stops_reading_is_closed_not_buffered_forever(gateway_factory):
    gw = await gateway_factory(greeting=_STORY, stall_timeout_s=30)
    # A raw client that grants generously but never reads: the server's own send
    # queue is what must stay bounded.
    async with websockets.connect(gw.ws_url + "/browser/ws", max_queue=1) as ws:
        hello = {"type": "hello", "protocol": "sluice.browser", "version": 1, "window_ms": 2000}
        await ws.send(json.dumps(hello))
        await asyncio.sleep(0.2)
        call = next(iter(gw.ctx.calls.values()))
        transport = call.transport
        for _ in range(200):
            await ws.send(json.dumps({"type": "grant", "ms": 2000, "epoch": 0}))
            await ws.send(json.dumps({"type": "ping", "t": 1}))
            await asyncio.sleep(0.01)
        assert transport.queue.peak_bytes <= transport.queue.limit_bytes
