"""Every malformed-input class the audit found, on every endpoint: a close code
or an error message and a metric, a healthy call beside it unharmed, forged
log lines impossible, no task left behind over hundreds of repetitions."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest
import websockets

from gateway.observe import logs
from gateway.pipeline.agent import _STORY
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import close_code, wait_for

pytestmark = pytest.mark.timeout(120)


def start(**fields) -> str:
    fmt = {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}
    body = {"streamSid": "MZbad", "callSid": "CAbad", "accountSid": "AC1",
            "customParameters": {}, "mediaFormat": {**fmt, **fields}}  # fmt: skip
    return json.dumps({"event": "start", "streamSid": "MZbad", "start": body})


BOMB = "[" * 30_000 + "]" * 30_000
"""Under the 64 KiB frame limit, deep enough to overflow a recursive parser."""
TWILIO_BAD_STARTS = [
    start(sampleRate="abc"),
    start(sampleRate=[1]),
    start(sampleRate=1e999),
    '{"event": "start", "start": ' + "[" * 20_000 + "]" * 20_000 + "}",
    start(channels="9" * 5000),
    "{not json",
]
MEDIA_BAD = [
    json.dumps({"event": "media", "media": {"payload": "", "chunk": 1e999}}).replace(
        "Infinity", "1e999"
    ),
    json.dumps({"event": "media", "media": {"payload": "", "timestamp": [1]}}),
    BOMB,
]
BROWSER_BAD = [
    '{"type": "grant", "ms": 1e999, "epoch": 0}',
    '{"type": "played", "turn": [1], "position_ms": 0}',
    BOMB,
    '{"type": "ping", "t": "now"}',
]
HELLO = json.dumps({"type": "hello", "protocol": "sluice.browser", "version": 1, "token": "",
                    "window_ms": 800, "client": {"transport": "test"}})  # fmt: skip


def _tasks() -> int:
    return len(asyncio.all_tasks())


def _errors(gw, transport: str) -> float:
    return sum(
        s.value
        for family in gw.ctx.metrics.registry.collect()
        for s in family.samples
        if s.name == "sluice_protocol_errors_total" and s.labels["transport"] == transport
    )


@pytest.fixture
async def beside(gateway_factory):
    """A gateway with a healthy call mid-story."""
    gw = await gateway_factory(greeting=_STORY, max_calls=300)
    caller = TwilioCaller(gw.ws_url + "/twilio/media")
    await caller.connect()
    await wait_for(lambda: caller.log.played_ms(1) >= 500, timeout=10)
    yield gw, caller
    await caller.hang_up()


async def test_malformed_twilio_starts_close_with_1008_and_media_errors_are_counted(beside):
    gw, caller = beside
    url = gw.ws_url + "/twilio/media"
    before = _errors(gw, "twilio")
    for message in TWILIO_BAD_STARTS:
        async with websockets.connect(url) as ws:
            await ws.send(message)
            assert await close_code(ws, timeout=5) == 1008, message[:60]
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(start())
        for message in MEDIA_BAD * 7:  # 21 errors: past the budget of 20
            await ws.send(message)
        assert await close_code(ws, timeout=5) == 1008
    assert _errors(gw, "twilio") >= before + len(TWILIO_BAD_STARTS) + 20
    assert not caller.closed and caller.errors == []


async def test_500_malformed_connections_leave_no_task_behind(beside):
    gw, caller = beside
    twilio, browser = gw.ws_url + "/twilio/media", gw.ws_url + "/browser/ws"
    baseline = _tasks()
    played = caller.log.played_ms(1)
    errors_seen: list[str] = []

    async def one(i: int) -> None:
        if i % 2:
            async with websockets.connect(twilio, max_queue=None) as ws:
                await ws.send(TWILIO_BAD_STARTS[i % len(TWILIO_BAD_STARTS)])
                await close_code(ws, timeout=5)
            return
        async with websockets.connect(browser, max_queue=None) as ws:
            await ws.send(HELLO)
            await ws.send(BROWSER_BAD[(i // 2) % len(BROWSER_BAD)])
            async with asyncio.timeout(5):
                while True:
                    message = await ws.recv()
                    if isinstance(message, str) and json.loads(message)["type"] == "error":
                        errors_seen.append(json.loads(message)["code"])
                        break

    for batch in range(50):
        await asyncio.gather(*(one(batch * 10 + i) for i in range(10)))
    await wait_for(lambda: len(gw.ctx.calls) == 1, timeout=10)
    await wait_for(lambda: _tasks() <= baseline + 2, timeout=10)
    assert len(errors_seen) == 250 and set(errors_seen) <= {"malformed", "not_json", "oversized"}
    assert len(gw.ctx.pending.gate) == 0
    assert not caller.closed and caller.log.played_ms(1) > played


async def test_forged_newlines_stay_inside_one_log_line(gateway):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(logs.CallIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    forged = "never\n2026-01-01 00:00:00 CRITICAL gateway.app call=tw-999 FORGED"
    try:
        async with websockets.connect(gateway.ws_url + "/twilio/media", max_queue=None) as ws:
            await ws.send(start())
            await wait_for(lambda: len(gateway.ctx.calls) == 1, timeout=5)
            await ws.send(json.dumps({"event": "mark", "mark": {"name": forged[:60]}}))
            await ws.send(json.dumps({"event": "teleport\nCRITICAL FORGED"}))
            await asyncio.sleep(0.3)
    finally:
        root.removeHandler(handler)
    lines = stream.getvalue().splitlines()
    assert any("unknown_mark" in line for line in lines)
    assert not any(line.startswith(("2026-01-01", "CRITICAL")) for line in lines)


async def test_a_thousand_distinct_bad_inputs_make_few_metric_series(gateway):
    url = gateway.ws_url + "/twilio/media"
    distinct = iter(range(1000))
    for _ in range(67):  # 15 distinct bad events a stream, under its error budget
        async with websockets.connect(url, max_queue=None) as ws:
            await ws.send(start())
            for n in [next(distinct, None) for _ in range(15)]:
                if n is not None:
                    await ws.send(json.dumps({"event": f"kind-{n}\n"}))
            await ws.send(json.dumps({"event": "stop"}))
            await close_code(ws, timeout=5)
    for n in range(10):
        async with websockets.connect(url) as ws:
            await ws.send(start())
            await ws.send("x" * (70_000 + n * 97))  # oversized, a new length each time
            await close_code(ws, timeout=5)
    series = {
        (s.name, tuple(sorted(s.labels.items())))
        for family in gateway.ctx.metrics.registry.collect()
        for s in family.samples
        if s.name in ("sluice_protocol_errors_total", "sluice_calls_ended_total")
    }
    assert len(series) < 20, series
