"""end_call on the browser wires, which have no REST API: the offline agent
says its goodbye and calls end_call; the session closes only once the page
(or Sluice's own paced track, on WebRTC) has played the whole goodbye."""

from __future__ import annotations

import pytest

from gateway.pipeline.agent import GOODBYE
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("wire", ["websocket", "webrtc"])
async def test_the_goodbye_is_heard_whole_before_the_session_closes(gateway, speech, wire):
    caller = (
        BrowserCaller(gateway.ws_url + "/browser/ws")
        if wire == "websocket"
        else WebRtcCaller(gateway.base_url)
    )
    async with caller:
        call = await only_call(gateway.ctx)
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("Thank you, goodbye."))
        await wait_for(lambda: call.end_reason is not None, timeout=25)
    goodbye = call.records[2]
    assert goodbye.text.strip() == GOODBYE and not goodbye.cancelled
    assert call.end_reason == "agent ended"
    if wire == "websocket":  # the page's own record of what it played
        assert caller.log.played_ms(2) >= goodbye.produced_ms - 60, "the goodbye was cut off"
    else:  # a WebRTC frame carries no turn: what the paced track played out
        assert call.flow.confirmed_ms(2) >= goodbye.produced_ms, "the goodbye was cut off"
    (action,) = call.core.actions
    assert action.action == "hang_up" and action.outcome == "done"
    assert action.heard_at is not None and action.heard_at >= action.asked_at
