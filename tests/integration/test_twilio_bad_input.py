"""Bad input on the Twilio endpoint: a clear error, a fitting close, and no harm to other calls."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import websockets

from gateway.observe import logs
from gateway.pipeline.agent import _STORY
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import wait_for

pytestmark = pytest.mark.timeout(60)

START = {
    "event": "start",
    "sequenceNumber": "2",
    "streamSid": "MZbad",
    "start": {
        "accountSid": "AC1",
        "callSid": "CA1",
        "streamSid": "MZbad",
        "tracks": ["inbound"],
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}


def start_with(**params: str) -> str:
    message = json.loads(json.dumps(START))
    message["start"]["customParameters"] = params
    return json.dumps(message)


def media(payload: str) -> str:
    return json.dumps({"event": "media", "streamSid": "MZbad", "media": {"payload": payload}})


async def close_code_after(url: str, *messages: str | bytes) -> tuple[int | None, str]:
    async with websockets.connect(url, max_size=2**20) as ws:
        for message in messages:
            await ws.send(message)
        try:
            while True:
                await asyncio.wait_for(ws.recv(), timeout=5)
        except websockets.ConnectionClosed as closed:
            return (closed.rcvd.code if closed.rcvd else None), (
                closed.rcvd.reason if closed.rcvd else ""
            )


async def still_served_after(url: str, *messages: str) -> int:
    """Sends the messages mid-call; returns media frames received afterwards."""
    # max_queue=None: this client stops reading mid-call, and a full queue would
    # hide the server's close frame from it.
    async with websockets.connect(url, max_queue=None) as ws:
        await ws.send(start_with())
        await asyncio.wait_for(ws.recv(), timeout=5)
        for message in messages:
            await ws.send(message)
        received = 0
        async with asyncio.timeout(5):
            while received < 5:
                if json.loads(await ws.recv())["event"] == "media":
                    received += 1
        return received


@pytest.fixture
async def busy_gateway(gateway_factory):
    """A gateway with one healthy call in the middle of a long reply."""
    gw = await gateway_factory(greeting=_STORY)
    caller = TwilioCaller(gw.ws_url + "/twilio/media")
    await caller.connect()
    await wait_for(lambda: caller.log.played_ms(1) >= 500, timeout=10)
    yield gw, caller
    await caller.hang_up()


def assert_unharmed(caller: TwilioCaller) -> None:
    assert not caller.closed
    assert caller.log.underruns() == (0, 0)
    assert caller.errors == []


def errors_of(gw, kind: str) -> float:
    return gw.ctx.metrics.protocol_errors.labels("twilio", kind)._value.get()


@pytest.mark.parametrize(
    ("messages", "code", "kind"),
    [
        ([b"\x00\x01binary"], 1003, "binary_frame"),
        ([media(base64.b64encode(b"\xff" * 160).decode())], 1008, "out_of_order"),
        ([start_with(sluice_token="forged")], 1008, "bad_token"),
        ([start_with(), media(base64.b64encode(b"\xff" * 20_000).decode())], 1009, "oversized"),
        ([start_with(), "x" * 100_000], 1009, None),
    ],
    ids=["binary", "media-before-start", "wrong-token", "oversized-payload", "oversized-frame"],
)
async def test_fatal_input_closes_with_a_fitting_code(busy_gateway, caplog, messages, code, kind):
    gw, caller = busy_gateway
    caplog.set_level(logging.WARNING)
    before = errors_of(gw, kind) if kind else 0
    got, reason = await close_code_after(gw.ws_url + "/twilio/media", *messages)
    assert got == code, reason
    if kind:
        assert errors_of(gw, kind) == before + 1
        assert any("twilio protocol error" in r.getMessage() for r in caplog.records)
    await wait_for(lambda: len(gw.ctx.calls) == 1, timeout=5)
    await asyncio.sleep(0.5)
    assert_unharmed(caller)


@pytest.mark.parametrize(
    ("message", "kind"),
    [
        ("{not json", "not_json"),
        (json.dumps({"event": "teleport"}), "unknown_event"),
        (media("!!!not-base64!!!"), "bad_base64"),
        (json.dumps({"event": "mark", "mark": {"name": "never-sent"}}), "unknown_mark"),
        (json.dumps({"event": "media", "media": "nope"}), "malformed"),
    ],
    ids=["not-json", "unknown-event", "bad-base64", "unknown-mark", "malformed"],
)
async def test_recoverable_input_is_logged_and_the_call_goes_on(
    busy_gateway, caplog, message, kind
):
    gw, caller = busy_gateway
    caplog.set_level(logging.WARNING)
    before = errors_of(gw, kind)
    with calls_named_in_logs() as named:
        assert await still_served_after(gw.ws_url + "/twilio/media", message) == 5
    assert errors_of(gw, kind) == before + 1
    assert any(kind in r.getMessage() for r in caplog.records)
    # Logged where the call's messages are handled: the line names the call.
    calls = [call for line, call in named if kind in line]
    assert len(calls) == 1 and calls[0].startswith("tw-"), named
    assert_unharmed(caller)


@contextmanager
def calls_named_in_logs() -> Iterator[list[tuple[str, str]]]:
    """(message, call id) of each warning the stream layer logs, as the log filter sees it."""
    named: list[tuple[str, str]] = []

    class Naming(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            named.append((record.getMessage(), logs.call_id_var.get()))

    handler = Naming(logging.WARNING)
    stream_log = logging.getLogger("transports.media_stream.stream")
    stream_log.addHandler(handler)
    try:
        yield named
    finally:
        stream_log.removeHandler(handler)


async def test_a_stream_of_garbage_is_closed_after_the_error_budget(busy_gateway):
    gw, caller = busy_gateway
    code, reason = await close_code_after(
        gw.ws_url + "/twilio/media", start_with(), *(["{oops"] * 25)
    )
    assert (code, reason) == (1008, "too many protocol errors")
    assert_unharmed(caller)


async def test_dtmf_reaches_the_call_as_an_event(gateway):
    from gateway.call.events import Dtmf
    from tests.integration.helpers import only_call, record_events

    async with websockets.connect(gateway.ws_url + "/twilio/media", max_queue=None) as ws:
        await ws.send(start_with())
        call = await only_call(gateway.ctx)
        events = record_events(call)
        await ws.send(
            json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "7"}})
        )
        await wait_for(lambda: any(isinstance(e, Dtmf) for e in events), timeout=5)
    assert [e.digit for e in events if isinstance(e, Dtmf)] == ["7"]
