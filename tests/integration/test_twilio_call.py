"""A whole call through the Twilio-faithful client: greeting, question, answer."""

from __future__ import annotations

import pytest

from gateway.call.events import AgentText, Transcript
from gateway.server.ws_protocol import ReadAheadProtocol
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import (
    SERVERS,
    listening_after,
    only_call,
    record_events,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("server", SERVERS)
async def test_scripted_call_greets_hears_the_caller_and_answers(gateway_factory, speech, server):
    gateway = await gateway_factory(ws_protocol=SERVERS[server])
    handed_over = ReadAheadProtocol.handed_over
    async with TwilioCaller(gateway.ws_url + "/twilio/media") as caller:
        call = await only_call(gateway.ctx)
        events = record_events(call)
        await wait_for(listening_after(call, 1), timeout=15)
        greeting = call.records[1]
        assert caller.log.played_ms(1) >= greeting.produced_ms - 40

        caller.say(await speech("I would like to order a large pizza please."))
        await wait_for(lambda: any(isinstance(e, Transcript) for e in events), timeout=15)
        await wait_for(listening_after(call, 2), timeout=20)

    transcripts = [e.text for e in events if isinstance(e, Transcript)]
    replies = [e.text for e in events if isinstance(e, AgentText) and e.turn_id == 2]
    assert transcripts and transcripts[0]
    assert replies and replies[0].startswith("I heard you say")
    assert caller.log.played_ms(2) >= call.records[2].produced_ms - 40
    assert caller.log.underruns() == (0, 0)
    assert caller.errors == []
    assert (ReadAheadProtocol.handed_over > handed_over) == (server == "hand-over")
