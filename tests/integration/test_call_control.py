"""Call control against fakes of the carriers' REST APIs (gateway/testing/
carrier_rest.py): outbound calls from POST /calls to the completed status,
end_call and transfer_call carried out only after their last words were
played (the fake's own playout record against the time its REST API got the
request), a barge-in cancelling the hang-up, transfer_allow, and the three
voicemail policies against a fake answering-machine verdict."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.cli import main
from gateway.pipeline.openai_chat import OpenAIChatAgent
from gateway.runtime.services import Services
from gateway.testing.carrier_answers import Signer
from gateway.testing.carrier_rest import FakeCarrierApi
from tests.fakes.openai_speech import serve_app
from tests.integration.fake_openai import fake_chat_app
from tests.integration.helpers import listening_after, wait_for

pytestmark = pytest.mark.timeout(60)

GREETING = "Hello, this is your appointment reminder."
FAREWELL = "Thank you, goodbye."
ALLOWED = "+15557770000"
THREE = ["twilio", "telnyx", "plivo"]
FOUR = [*THREE, "vonage"]


@asynccontextmanager
async def placed(gateway_factory, carrier: str, services=None, verdict: str = "", **settings
                 ) -> AsyncIterator[tuple]:  # fmt: skip
    """A gateway, a fake carrier REST API pointed at it, and one outbound call placed."""
    fake = await FakeCarrierApi(Signer(carrier), verdict=verdict).start()
    try:
        args = (services,) if services is not None else ()
        gw = await gateway_factory(*args, greeting=GREETING, **fake.settings, **settings)
        gw.ctx.settings.public_url = gw.base_url  # the carrier reaches it here
        async with httpx.AsyncClient() as http:
            answer = await http.post(gw.base_url + "/calls", json={
                "to": "+15551230000", "from": "+15559870000", "carrier": carrier})  # fmt: skip
        assert answer.status_code == 201, answer.text
        placed_id = answer.json()["call_id"]
        await wait_for(lambda: fake.calls and fake.calls[0].caller is not None, timeout=10)
        await wait_for(lambda: len(gw.ctx.calls) == 1, timeout=10)
        call = next(iter(gw.ctx.calls.values()))
        yield gw, fake, call, fake.calls[0].caller, placed_id
    finally:
        await fake.stop()


@asynccontextmanager
async def model(services: Services, tool: str, arguments: dict, reply: str):
    """A fake chat model that calls `tool` once per turn, then says `reply`."""
    app = fake_chat_app(reply, tool_call=(tool, json.dumps(arguments)))
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model")
        try:
            yield app, Services(stt=services.stt, tts=services.tts, agent=agent, vad=services.vad)
        finally:
            await agent.aclose()


async def record(gw, key: str) -> dict:
    async with httpx.AsyncClient() as http:
        return (await http.get(f"{gw.base_url}/calls/{key}")).json()


@pytest.mark.parametrize("carrier", FOUR)
async def test_an_outbound_call_is_answered_greets_and_completes(gateway_factory, carrier):
    async with placed(gateway_factory, carrier) as (gw, fake, call, caller, placed_id):
        await wait_for(listening_after(call, 1), timeout=15)
        assert caller.log.played_ms(1) >= call.records[1].produced_ms - 40, "greeting cut"
        assert call.voice.info.caller == "+15551230000"
        assert call.voice.info.parameters["direction"] == "outbound"
        await fake._end(fake.calls[0], "completed")  # the person hangs up
        await wait_for(lambda: not gw.ctx.calls, timeout=5)
        shown = await record(gw, placed_id)
    states = [s["state"] for s in shown["outbound"]["states"]]
    assert states[:2] == ["requested", "queued"] and states[-1] == "completed", states
    assert "ringing" in states and "answered" in states
    assert shown["call_id"] == call.call_id and shown["turns"][0]["text"] == GREETING
    assert all(code == 204 for _, code in fake.calls[0].callbacks), fake.calls[0].callbacks
    assert fake.refused == []
    answer_url = fake.calls[0].answer_url
    assert answer_url.startswith(f"{gw.base_url}/{carrier}/voice?outbound=")
    assert placed_id not in answer_url, "the answer URL carries a one-time token, not the id"


async def test_callbacks_are_signed_pending_calls_are_bounded_and_errors_are_the_carriers(
    gateway_factory,
):
    fake = await FakeCarrierApi(Signer("twilio")).start()
    fake.ring_s = 30  # nobody answers: the first call stays pending
    try:
        gw = await gateway_factory(outbound_max_pending=1, **fake.settings)
        gw.ctx.settings.public_url = gw.base_url
        body = {"to": "+15551230000", "from": "+15559870000"}
        async with httpx.AsyncClient() as http:
            first = await http.post(gw.base_url + "/calls", json=body)
            assert first.status_code == 201, first.text
            second = await http.post(gw.base_url + "/calls", json=body)
            assert second.status_code == 429 and second.json()["error"] == "too_many_pending"
            placed_id = first.json()["call_id"]
            forged = Signer("twilio").request(  # signed with another account's token
                f"{gw.base_url}/twilio/status?outbound={placed_id}",
                {"CallSid": fake.calls[0].sid, "CallStatus": "completed"},
            )
            assert (await http.request(**forged)).status_code == 403
            assert (await record(gw, placed_id))["outbound"]["state"] == "ringing"
            bad = await http.post(gw.base_url + "/calls", json={**body, "to": "tel; rm -rf"})
            assert bad.status_code == 400 and "`to`" in bad.json()["detail"]
            gw.ctx.extensions["outbound"].max_pending = 5
            fake.fail_next = (400, {"code": 21211, "message": "The 'To' number is not valid.",
                                    "status": 400})  # fmt: skip
            refused = await http.post(gw.base_url + "/calls", json=body)
        assert refused.status_code == 502, refused.text
        assert "The 'To' number is not valid." in refused.json()["detail"]
    finally:
        await fake.stop()


@pytest.mark.parametrize("carrier", FOUR)
async def test_end_call_hangs_up_only_after_the_goodbye_was_played(
    gateway_factory, services, speech, carrier
):
    async with (
        model(services, "end_call", {"reason": "done"}, FAREWELL) as (app, hosted),
        placed(gateway_factory, carrier, hosted, agent="openai") as (gw, fake, call, caller, _),
    ):
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("That is all, thank you."))
        await wait_for(lambda: bool(fake.hang_ups), timeout=20)
        hung_up_at = fake.hang_ups[0][0]
        await wait_for(lambda: not gw.ctx.calls, timeout=5)
    goodbye = call.records[2]
    assert goodbye.text.strip() == FAREWELL and not goodbye.cancelled
    assert caller.log.played_ms(2) >= goodbye.produced_ms - 40, "the goodbye was cut"
    assert caller.log.last_played_end(2) <= hung_up_at, "hung up before the goodbye was heard"
    assert call.end_reason == "agent ended"
    assert [a.outcome for a in call.core.actions] == ["done"]
    assert json.loads(app.state.tool_messages[0]["content"])["ok"] is True


@pytest.mark.parametrize("carrier", THREE)
async def test_a_caller_talking_over_the_goodbye_cancels_the_hang_up(
    gateway_factory, services, speech, carrier
):
    long_goodbye = "Thank you for calling. " * 3 + "Goodbye."
    async with (
        model(services, "end_call", {}, long_goodbye) as (app, hosted),
        placed(gateway_factory, carrier, hosted, agent="openai") as (gw, fake, call, caller, _),
    ):
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("That is all, thank you."))
        await wait_for(lambda: caller.log.played_ms(2) >= 800, timeout=20)
        caller.say(await speech("Wait, one more question."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        cut_at = call.interrupts[-1].at
        await wait_for(lambda: bool(fake.hang_ups), timeout=30)  # after the next goodbye
    assert call.records[2].cancelled
    assert [a.outcome for a in call.core.actions][:1] == ["cancelled"]
    assert fake.hang_ups[0][0] > cut_at
    last = max(call.records)
    assert last > 2 and caller.log.last_played_end(last) <= fake.hang_ups[0][0]


@pytest.mark.parametrize("carrier", FOUR)
async def test_a_transfer_waits_for_its_announcement_and_only_goes_where_allowed(
    gateway_factory, services, speech, carrier
):
    arguments = {"to": ALLOWED, "announcement": "I will put you through now."}
    async with (
        model(services, "transfer_call", arguments, "One moment.") as (app, hosted),
        placed(gateway_factory, carrier, hosted, agent="openai", transfer_allow="+1555777*") as (
            gw,
            fake,
            call,
            caller,
            _,
        ),  # fmt: skip
    ):
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("Can I talk to a person?"))
        await wait_for(lambda: bool(fake.transfers), timeout=20)
        await wait_for(lambda: not gw.ctx.calls, timeout=5)
    (asked_at, _, to) = fake.transfers[0]
    assert to == ALLOWED
    announcement = call.records[3]
    assert announcement.text.strip() == "I will put you through now."
    assert caller.log.played_ms(3) >= announcement.produced_ms - 40
    assert caller.log.last_played_end(3) <= asked_at, "transferred before it was heard"
    assert call.end_reason == "transferred" and fake.hang_ups == []


@pytest.mark.parametrize("carrier", THREE)
async def test_a_transfer_outside_transfer_allow_is_refused_and_the_model_is_told(
    gateway_factory, services, speech, carrier
):
    async with (
        model(services, "transfer_call", {"to": "+19005550000"}, "Sorry.") as (app, hosted),
        placed(gateway_factory, carrier, hosted, agent="openai", transfer_allow=ALLOWED) as (
            gw,
            fake,
            call,
            caller,
            _,
        ),  # fmt: skip
    ):
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("Put me through to the premium line."))
        await wait_for(lambda: bool(app.state.tool_messages), timeout=20)
        await wait_for(listening_after(call, 2), timeout=20)
    told = json.loads(app.state.tool_messages[0]["content"])
    assert "not a destination" in told["error"]
    assert fake.transfers == [] and call.core.actions.maxlen and not call.core.actions


async def test_a_transfer_the_carrier_refuses_leaves_the_call_going_and_the_agent_told(
    gateway_factory, services, speech
):
    arguments = {"to": ALLOWED, "announcement": "I will put you through now."}
    async with (
        model(services, "transfer_call", arguments, "One moment.") as (app, hosted),
        placed(gateway_factory, "twilio", hosted, agent="openai",
               transfer_allow=ALLOWED) as (gw, fake, call, caller, _),  # fmt: skip
    ):
        app.state.tool_calls_left = 1  # the model asks for the transfer once
        fake.fail_next = (400, {"code": 21220, "message": "Call is not in-progress.",
                                "status": 400})  # fmt: skip
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("Can I talk to a person?"))
        await wait_for(lambda: any(a.outcome == "failed" for a in call.core.actions), 20)
        # The agent gets a turn, its model told why, and the call goes on.
        await wait_for(lambda: len(app.state.requests) >= 3, timeout=20)
        await wait_for(listening_after(call, 4), timeout=20)
        assert gw.ctx.calls and call.end_reason is None, "the call ended"
    (action,) = call.core.actions
    assert action.detail == "twilio answered 400: Call is not in-progress."
    notes = [m["content"] for m in app.state.requests[-1]["body"]["messages"]
             if m["role"] == "system" and "transfer" in m["content"]]  # fmt: skip
    assert notes and "Call is not in-progress." in notes[0]
    assert fake.transfers == []


@pytest.mark.parametrize(
    ("carrier", "policy"),
    [(carrier, policy) for carrier in THREE for policy in ("hangup", "message", "agent")]
    + [("vonage", "message")],
)
async def test_voicemail_policies_on_a_machine_verdict(gateway_factory, services, carrier, policy):
    verdict = "machine" if carrier == "plivo" else "machine_end_beep"
    message = "Your appointment is tomorrow at nine. Goodbye."
    async with (
        model(services, "end_call", {}, "Hello, please call us back. Goodbye.") as (app, hosted),
        placed(
            gateway_factory,
            carrier,
            hosted,
            verdict=verdict,
            agent="openai",
            outbound_voicemail=policy,
            voicemail_message=message,
        ) as (gw, fake, call, caller, placed_id),  # fmt: skip
    ):
        await wait_for(lambda: bool(fake.hang_ups), timeout=25)
        hung_up_at = fake.hang_ups[0][0]
        await wait_for(lambda: not gw.ctx.calls, timeout=5)
    assert 1 not in call.records or call.records[1].text != GREETING, "greeted a machine"
    if policy == "hangup":
        assert not call.records and call.end_reason == "machine answered"
        return
    turn = min(call.records)
    spoken = call.records[turn]
    if policy == "message":
        assert spoken.text.strip() == message and call.end_reason == "voicemail"
    else:
        system = [m for r in app.state.requests for m in r["body"]["messages"]
                  if m["role"] == "system" and "answering machine" in m["content"]]  # fmt: skip
        assert system, "the agent was not told a machine answered"
        assert call.end_reason == "agent ended"
    assert caller.log.played_ms(turn) >= spoken.produced_ms - 40, "the message was cut"
    assert caller.log.last_played_end(turn) <= hung_up_at


async def test_sluice_call_places_a_call_and_prints_its_id(gateway_factory, capsys):
    fake = await FakeCarrierApi(Signer("twilio")).start()
    try:
        gw = await gateway_factory(**fake.settings)
        gw.ctx.settings.public_url = gw.base_url
        command = ["call", "+15551230000", "--from", "+15559870000", "--gateway", gw.base_url]
        with pytest.raises(SystemExit) as done:
            await asyncio.to_thread(main, command)  # a blocking client, as in a shell
        assert done.value.code == 0
        printed = json.loads(capsys.readouterr().out.strip().splitlines()[0])
        assert printed["call_id"].startswith("ob-") and printed["state"] == "queued"
        await wait_for(lambda: bool(fake.calls) and fake.calls[0].caller is not None, 10)
        assert fake.calls[0].to == "+15551230000"
    finally:
        await fake.stop()
