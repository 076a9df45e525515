"""GET /calls/{id}: the gateway's own record of a call, by its id or Twilio's CallSid."""

from __future__ import annotations

import time

import httpx
import pytest

from gateway.call.events import Transcript
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(90)


async def test_a_calls_record_shows_its_turns_and_interrupt_live_and_after_it_ends(gateway, speech):
    async with httpx.AsyncClient(base_url=gateway.base_url) as http:
        async with TwilioCaller(gateway.ws_url + "/twilio/media") as caller:
            call = await only_call(gateway.ctx)
            events = record_events(call)
            await wait_for(listening_after(call, 1), timeout=15)
            live = (await http.get(f"/calls/{caller.call_sid}")).json()
            assert live["call_id"] == call.call_id and not live["ended"]
            assert live["transport"] == "twilio" and live["phase"] == "listening"
            assert abs(live["started_at"] - time.time()) < 30

            caller.say(await speech("Please tell me a long story."))
            await wait_for(lambda: caller.log.played_ms(2) >= 1000, timeout=20)
            caller.say(await speech("Stop. Wait a moment."))
            await wait_for(lambda: bool(call.interrupts), timeout=10)
            interrupt = call.interrupts[-1]

        await wait_for(lambda: not gateway.ctx.calls, timeout=10)
        record = (await http.get(f"/calls/{call.call_id}")).json()
        listing = (await http.get("/calls")).json()["calls"]

    assert record["ended"] and record["end_reason"]
    assert [t["turn_id"] for t in record["turns"]][:2] == [1, 2]
    reply = record["turns"][1]
    assert reply["user_ended_at"] is not None and reply["first_sent_at"] > reply["user_ended_at"]
    # What was said: the caller's words each turn answers, the agent's as heard.
    greeting = record["turns"][0]
    assert greeting["transcript"] == "" and greeting["heard_text"] == greeting["text"] != ""
    asked = next(e.text for e in events if isinstance(e, Transcript))
    assert reply["transcript"] == asked != ""
    assert reply["heard_text"] and reply["text"].startswith(reply["heard_text"])
    assert len(reply["heard_text"]) < len(reply["text"])  # cut by the interrupt
    (seen,) = record["interrupts"]
    assert seen["turn_id"] == 2 and seen["heard_ms"] == interrupt.heard_ms
    # Wall-clock instants line up with the caller's monotonic clock through one offset.
    offset = time.time() - time.monotonic()
    assert abs(seen["at"] - (interrupt.at + offset)) < 0.01
    assert record["peak_in_flight_ms"] <= record["window_ms"]
    assert listing[0]["call_id"] == call.call_id and caller.call_sid in listing[0]["aliases"]


async def test_records_are_bounded_and_can_require_a_token(gateway_factory):
    gw = await gateway_factory(call_records_token="s3cret")
    async with httpx.AsyncClient(base_url=gw.base_url) as http:
        assert (await http.get("/calls")).status_code == 401
        wrong = await http.get("/calls", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        ok = await http.get("/calls", headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json() == {"calls": []}
        missing = await http.get("/calls/tw-999", headers={"Authorization": "Bearer s3cret"})
        assert missing.status_code == 404
    assert gw.ctx.records.keep == 200
