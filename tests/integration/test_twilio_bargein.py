"""Barge-in over Twilio: cancel, then drop, then clear; the listener hears almost nothing stale."""

from __future__ import annotations

import time

import pytest

from gateway.call.events import Interrupted, Transcript
from gateway.call.turns import TurnPhase
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(90)


def record_sends(call):
    """Wrap the transport so the test sees every frame the gateway put on the wire."""
    sent: list[tuple[float, int]] = []
    original = call.transport.send_audio

    async def send_audio(chunk):
        await original(chunk)
        sent.append((time.monotonic(), chunk.turn_id))

    call.transport.send_audio = send_audio
    return sent


async def test_barge_in_cancels_the_turn_and_stale_audio_stays_under_60_ms(gateway, speech):
    async with TwilioCaller(gateway.ws_url + "/twilio/media") as caller:
        call = await only_call(gateway.ctx)
        events = record_events(call)
        sent = record_sends(call)
        await wait_for(listening_after(call, 1), timeout=15)

        caller.say(await speech("Please tell me a long story."))
        await wait_for(lambda: call.turns.turn_id == 2, timeout=15)
        await wait_for(lambda: caller.log.played_ms(2) >= 2000, timeout=15)
        assert call.turns.phase is TurnPhase.SPEAKING
        produced_before = call.records[2].produced_ms
        assert produced_before < 60_000, "the reply must be produced lazily, not all at once"

        caller.say(await speech("Stop. Wait a moment."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        interrupt = call.interrupts[-1]
        await wait_for(lambda: caller.clears, timeout=5)
        await wait_for(lambda: caller.log.last_played_end(2) is not None, timeout=5)
        await wait_for(lambda: any(isinstance(e, Transcript) for e in events[-20:]), timeout=20)

    record = call.records[2]
    assert interrupt.turn_id == 2
    assert interrupt.cancelled_work and record.cancelled
    assert record.produced_ms <= produced_before + 5_000  # at most the sentence in hand
    assert not [t for t, turn in sent if turn == 2 and t > interrupt.at]
    stale = caller.log.stale_ms(2, interrupt.at)
    assert stale < 60, f"{stale:.1f} ms of the interrupted turn played after the interrupt"
    heard = [e for e in events if isinstance(e, Interrupted)][0]
    assert heard.heard_text and heard.heard_text in " ".join(s.text for s in record.spans)
    # The agent's history keeps what the caller heard, not the whole reply.
    said = [m.text for m in call.voice.history if m.role == "assistant"]
    assert any(text.startswith(heard.heard_text) for text in said)
    assert not any(len(text) > len(heard.heard_text) + 2 for text in said[1:])
    # The estimate of what was heard is close to what the client actually played.
    played = caller.log.played_ms(2)
    assert abs(interrupt.heard_ms - played) <= 200, (interrupt.heard_ms, played)


async def test_a_protected_greeting_plays_whole_and_the_caller_is_answered_after(
    gateway_factory, speech
):
    greeting = "This is a recorded notice that plays whole. Please hold on while it ends."
    gw = await gateway_factory(greeting=greeting, interrupt_greeting=False)
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx)
        await wait_for(lambda: caller.log.played_ms(1) >= 400, timeout=15)
        caller.say(await speech("Hello, can you hear me?"))
        await wait_for(lambda: call.turns.turn_id == 2, timeout=30)
        await wait_for(lambda: caller.log.played_ms(2) >= 200, timeout=15)
    assert not call.interrupts and not caller.clears
    assert not call.records[1].cancelled
    # All of the greeting was heard before the answer began.
    assert caller.log.played_ms(1) >= call.records[1].produced_ms - 40
