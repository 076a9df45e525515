"""Every carrier, through a fake written from its documentation: the greeting
is heard whole within the window, a "hm" pauses it and it resumes with
nothing lost, a barge-in clears the far end, cancels the work and cuts the
heard text at what the fake played, and the carrier's own request
authentication turns away anything else. Figures come from the fake's own
playout record."""

from __future__ import annotations

import asyncio

import pytest
import websockets

from gateway.call.events import Interrupted, Resumed
from gateway.testing import sounds
from gateway.testing.carrier_caller import CarrierCaller
from tests.integration.carriers import NEW_CARRIERS, WEBHOOK_CARRIERS, Account
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(90)

GREETING = (
    "Hello! This is Sluice, a gateway for voice agents. "
    "I can tell you about flow control and barge-in."
)


@pytest.fixture(scope="module")
def hm() -> bytes:
    return asyncio.run(sounds.short_hm())


@pytest.mark.parametrize("carrier", NEW_CARRIERS)
async def test_a_call_hears_the_greeting_whole_and_barge_in_cuts_the_reply(
    gateway_factory, speech, hm, carrier
):
    account = Account(carrier)
    gw = await gateway_factory(greeting=GREETING, **account.settings)
    window = gw.settings.carrier_window_ms
    async with await account.caller(gw) as caller:
        call = await only_call(gw.ctx, timeout=10)
        assert call.kind == carrier
        # What the agent is told of the call: the numbers the carrier passed along.
        info = call.voice.info
        assert (info.call_id, info.transport, info.carrier) == (call.call_id, carrier, carrier)
        if carrier != "asterisk":  # Asterisk's MEDIA_START names no numbers
            assert info.caller.endswith("0000001") and info.callee.endswith("0000002"), info
        assert "sluice_token" not in info.parameters
        events = record_events(call)
        # A "hm" over the greeting pauses it; the greeting resumes where it was heard.
        await wait_for(lambda: caller.log.played_ms(1) >= 1200, timeout=15)
        caller.say(hm)
        await wait_for(lambda: any(isinstance(e, Resumed) for e in events), 8)
        await wait_for(listening_after(call, 1), timeout=25)
        greeting = call.records[1]
        assert not greeting.cancelled and not call.interrupts
        assert caller.log.played_ms(1) >= greeting.produced_ms - 40, "the greeting lost audio"
        assert caller.peak_buffered_ms <= window + 120, caller.peak_buffered_ms

        # A question, then a barge-in on the answer.
        caller.say(await speech("Please tell me a long story."))
        await wait_for(lambda: call.turns.turn_id == 2, timeout=20)
        await wait_for(lambda: caller.log.played_ms(2) >= 1500, timeout=15)
        caller.say(await speech("Stop. Wait a moment."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        interrupt = call.interrupts[-1]
        await wait_for(lambda: bool(caller.clears), timeout=5)
        await wait_for(lambda: any(isinstance(e, Interrupted) for e in events), timeout=5)
        await asyncio.sleep(0.3)

    assert interrupt.turn_id == 2 and interrupt.cancelled_work
    assert call.records[2].cancelled
    stale = caller.log.stale_ms(2, interrupt.at)
    assert stale < 80, f"{stale:.1f} ms of the interrupted turn played after the interrupt"
    played = caller.log.played_ms(2)
    assert abs(interrupt.heard_ms - played) <= 250, (interrupt.heard_ms, played)
    heard = next(e for e in events if isinstance(e, Interrupted))
    assert heard.heard_text and heard.heard_text in " ".join(s.text for s in call.records[2].spans)
    assert caller.peak_buffered_ms <= window + 120
    assert not caller.problems, caller.problems[:5]
    assert caller.overflowed_ms == 0
    assert caller.close_code == 1000 or caller.close_code is None


@pytest.mark.parametrize("carrier", WEBHOOK_CARRIERS)
async def test_an_answer_request_with_a_bad_signature_gets_403(gateway_factory, carrier):
    account = Account(carrier)
    gw = await gateway_factory(**account.settings)
    errors = gw.ctx.metrics.protocol_errors.labels(carrier, "bad_signature")
    before = errors._value.get()
    wrong = await account.answer(gw, "call-1", wrong=True)
    assert wrong.status_code == 403
    assert errors._value.get() == before + 1
    right = await account.answer(gw, "call-1")
    assert right.status_code == 200 and "sluice_token" in right.text
    # The same request again, once its stream has begun, is a replay.
    async with await account.caller(gw) as caller:
        await only_call(gw.ctx, timeout=10)
        assert caller.close_code is None


@pytest.mark.parametrize("carrier", WEBHOOK_CARRIERS[1:])
async def test_a_stream_without_its_token_is_refused(gateway_factory, carrier):
    account = Account(carrier)
    gw = await gateway_factory(**account.settings)
    async with await account.caller(gw) as admitted:
        await only_call(gw.ctx, timeout=10)
        url = f"{gw.ws_url}/{carrier}/media"
        async with CarrierCaller(carrier, url, token="not-a-token") as stranger:
            await wait_for(lambda: stranger.close_code is not None, timeout=5)
        assert stranger.close_code == 1008
        assert admitted.close_code is None
    assert len(gw.ctx.records.recent()) == 1


@pytest.mark.parametrize("carrier", ["exotel", "asterisk"])
async def test_a_fixed_url_without_its_token_is_refused_before_accept(gateway_factory, carrier):
    account = Account(carrier)
    gw = await gateway_factory(**account.settings)
    for query in ("", "?token=wrong"):
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(f"{gw.ws_url}/{carrier}/media{query}"):
                pass
        assert refused.value.response.status_code == 403
    assert gw.ctx.metrics.protocol_errors.labels(carrier, "bad_token")._value.get() == 2
