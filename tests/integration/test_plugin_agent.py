"""An agent plug-in (`agent = "module:factory"`) answering real calls: the
example package's agent on Twilio and the browser WebSocket, cancelled by a
barge-in and left with only the heard text; a factory that fails and an
agent that never speaks, each beside a healthy call."""

from __future__ import annotations

import asyncio

import pytest

from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(90)

EXAMPLE = "lighthouse_agent:make_agent"


def caller_for(kind: str, gw):
    if kind == "twilio":
        return TwilioCaller(gw.ws_url + "/twilio/media")
    return BrowserCaller(gw.ws_url + "/browser/ws")


@pytest.mark.parametrize("kind", ["twilio", "browser"])
async def test_the_example_agent_answers_and_a_barge_in_cancels_it(gateway_factory, speech, kind):
    gw = await gateway_factory(agent=EXAMPLE)
    async with caller_for(kind, gw) as caller:
        call = await only_call(gw.ctx, timeout=10)
        # The factory runs as the call's voice starts.
        await wait_for(lambda: type(call.voice.agent).__name__ == "LighthouseAgent", timeout=5)
        agent = call.voice.agent
        assert agent.info.call_id == call.call_id
        assert agent.info.transport == ("twilio" if kind == "twilio" else "websocket")
        await wait_for(listening_after(call, 1), timeout=20)

        caller.say(await speech("Please tell me a long story."))
        await wait_for(lambda: caller.log.played_ms(2) >= 1500, timeout=20)
        caller.say(await speech("Stop. Wait a moment."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        await wait_for(lambda: agent.cancelled == 1, timeout=5)
        heard = call.interrupts[-1].heard_text
        # The next reply's history holds only what the caller heard of the story.
        await wait_for(lambda: len(agent.seen) >= 2, timeout=20)
    said = [m for m in agent.seen[-1] if m.role == "assistant"]
    assert said and said[-1].text == heard + " …"
    assert heard and len(heard) < len(agent._answer("tell me a long story")) // 2


async def test_a_factory_that_fails_ends_its_call_with_an_apology(gateway_factory):
    gw = await gateway_factory(agent="tests.integration.plugin_agents:broken")
    failures = gw.ctx.metrics.voice_failures.labels("twilio", "cascade")
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(lambda: caller.closed, timeout=20)
    assert call.end_reason == "voice failed"
    heard = sum(f.ms for f in caller.log.frames if f.source is not None)
    assert heard >= 500, "the caller heard the apology"
    assert failures._value.get() == 1


async def test_an_agent_that_never_speaks_is_ended_and_the_call_goes_on(gateway_factory, speech):
    gw = await gateway_factory(agent="tests.integration.plugin_agents:silent", agent_timeout_s=1.0)
    errors = gw.ctx.metrics.agent_errors.labels("twilio")
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx, timeout=10)
        await wait_for(listening_after(call, 1), timeout=20)
        caller.say(await speech("When are you open?"))
        await wait_for(lambda: call.turns.turn_id == 2, timeout=20)
        await wait_for(lambda: errors._value.get() >= 1, timeout=5)
        await wait_for(listening_after(call, 2), timeout=5)
        assert call.voice.agent.closed, "the stuck reply was closed"
        await asyncio.sleep(0.3)
        assert not caller.closed
    assert errors._value.get() == 1, "one failed reply, counted once"
