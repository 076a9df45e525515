"""Provisional interrupts through real-time clients: a short "hm" over the agent
pauses it at once and the turn resumes from where it was heard; speech held
long enough is a real barge-in; non-speech never cuts. Every figure comes from
the client's own playout record."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateway.call.events import CallEvent, Interrupted, Paused, Resumed
from gateway.testing import sounds
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.playout import PlayoutLog
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from tests.integration.helpers import listening_after, only_call, wait_for

pytestmark = pytest.mark.timeout(60)

GREETING = (
    "Hello! This is Sluice, a gateway for voice agents. "
    "I can tell you about flow control and barge-in."
)
WEBRTC = {"webrtc_host_addresses": "127.0.0.1"}


@pytest.fixture(scope="session")
def hm() -> bytes:
    return asyncio.run(sounds.short_hm())


def caller_for(kind: str, gw):
    if kind == "twilio":
        return TwilioCaller(gw.ws_url + "/twilio/media")
    if kind == "browser":
        return BrowserCaller(gw.ws_url + "/browser/ws")
    return WebRtcCaller(gw.base_url)


def timed_events(call) -> list[tuple[float, CallEvent]]:
    seen: list[tuple[float, CallEvent]] = []
    call.listeners.append(lambda e: seen.append((time.monotonic(), e)))
    return seen


def around_the_pause(log: PlayoutLog, turn: int, onset: float, resumed_at: float):
    """(talk-over ms, pause ms): how long the caller heard the agent after their
    onset, and the silence until the turn played again."""
    before = [f for f in log.frames if f.turn == turn and onset <= f.at < resumed_at]
    stopped = max((f.at + f.ms / 1000 for f in before), default=onset)
    again = next(f.at for f in log.frames if f.turn == turn and f.at >= resumed_at)
    return (stopped - onset) * 1000, (again - stopped) * 1000


async def call_with_a_hm(gw, kind: str, hm: bytes | None, at_ms: int = 1200):
    """Greets, says `hm` (None: nothing) `at_ms` into the greeting, waits for the
    greeting to end; returns (call, caller, events, onset)."""
    async with caller_for(kind, gw) as caller:
        call = await only_call(gw.ctx, timeout=10)
        events = timed_events(call)
        await wait_for(lambda: caller.log.played_ms(1) >= at_ms, timeout=15)
        onset = None
        if hm is not None:
            caller.say(hm)
            await wait_for(lambda: caller.first_voiced_sent is not None, timeout=2)
            onset = caller.first_voiced_sent
            await wait_for(lambda: any(isinstance(e, Resumed) for _, e in events), 5)
        await wait_for(listening_after(call, 1), timeout=20)
        await asyncio.sleep(1.2)  # the hm's own utterance is understood by now
    return call, caller, events, onset


@pytest.mark.parametrize("kind", ["twilio", "browser", "webrtc"])
async def test_a_hm_pauses_the_greeting_and_it_resumes_with_nothing_lost(
    gateway_factory, hm, kind
):
    gw = await gateway_factory(greeting=GREETING, **WEBRTC)
    if kind == "webrtc":
        # RTP carries no turn ids: the caller counts voiced audio, so the whole
        # greeting heard is what an uninterrupted call hears.
        _, plain, _, _ = await call_with_a_hm(gw, kind, None)
        whole = plain.log.played_ms(1)
    call, caller, events, onset = await call_with_a_hm(gw, kind, hm)
    if kind != "webrtc":
        whole = call.records[1].produced_ms
    resumed_at = next(t for t, e in events if isinstance(e, Resumed))
    talk_over, pause = around_the_pause(caller.log, 1, onset, resumed_at)
    if kind == "webrtc":
        # Voiced frames cannot tell a gap between words from the pause, so the
        # pause is what the hm added to the greeting as heard. Measured from
        # the last voiced frame instead, it took in whatever word gap the onset
        # fell in: one frame of the next word, heard 140 ms after the onset
        # before the pause cut in, made it read 340 ms, and without that frame
        # 485 ms, for the same 320 to 360 ms added to the greeting.
        pause = (caller.log.span_s(1) - plain.log.span_s(1)) * 1000
    played = caller.log.played_ms(1)
    print(f"{kind}: talk-over {talk_over:.0f} ms, pause {pause:.0f} ms, "
          f"heard {played} ms of {whole} ms")
    kinds = [type(e) for _, e in events if isinstance(e, Paused | Resumed | Interrupted)]
    assert kinds == [Paused, Resumed]
    assert not call.interrupts and not call.records[1].cancelled
    assert call.turns.turn_id == 1, "a backchannel starts no reply"
    assert abs(played - whole) <= 100, "the whole turn is heard, within 100 ms"
    # The targets: 150 ms on Twilio (and the browser wire), 200 ms over WebRTC,
    # whose far end plays out its jitter buffer after the cushion is flushed.
    assert talk_over <= (200 if kind == "webrtc" else 150)
    assert pause <= 400
    record = call.records[1]
    assert record.heard_text(record.produced_ms) == GREETING


async def test_the_history_after_a_resumed_turn_is_that_of_an_uninterrupted_one(
    gateway_factory, hm
):
    gw = await gateway_factory(greeting=GREETING)
    plain, *_ = await call_with_a_hm(gw, "browser", None)
    paused, *_ = await call_with_a_hm(gw, "browser", hm)
    assert paused.core.backchannels and not paused.interrupts
    assert list(paused.voice.history) == list(plain.voice.history)
    assert [m.role for m in paused.voice.history] == ["assistant"]


async def test_a_real_barge_in_after_a_provisional_one_cancels_and_sends_nothing_more(
    gateway_factory, speech
):
    gw = await gateway_factory(greeting=GREETING)
    sent: list[tuple[float, int]] = []
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx)
        original = call.transport.send_audio

        async def send_audio(chunk):
            await original(chunk)
            sent.append((time.monotonic(), chunk.turn_id))

        call.transport.send_audio = send_audio
        events = timed_events(call)
        await wait_for(lambda: caller.log.played_ms(1) >= 1200, timeout=15)
        caller.say(await speech("Wait, stop, stop please."))
        await wait_for(lambda: bool(call.interrupts), timeout=10)
        await wait_for(lambda: call.turns.turn_id == 2, timeout=20)
    interrupt = call.interrupts[-1]
    kinds = [type(e) for _, e in events if isinstance(e, Paused | Resumed | Interrupted)]
    assert kinds[:2] == [Paused, Interrupted], kinds
    assert interrupt.cancelled_work and call.records[1].cancelled
    assert interrupt.confirmed_at > interrupt.at, "confirmed after the pause"
    assert not [t for t, turn in sent if turn == 1 and t > interrupt.at]
    stale = caller.log.stale_ms(1, interrupt.confirmed_at)
    assert stale == 0, f"{stale:.0f} ms of the cut turn played after the confirmation"
    # What the caller heard is what the history keeps: the pause position.
    played = caller.log.played_ms(1)
    assert abs(interrupt.heard_ms - played) <= 120, (interrupt.heard_ms, played)


@pytest.mark.parametrize("name", sorted(sounds.NON_SPEECH))
async def test_non_speech_never_confirms_an_interruption(gateway_factory, name):
    gw = await gateway_factory(greeting=GREETING)
    sound = sounds.NON_SPEECH[name]()
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx)
        await wait_for(lambda: caller.log.played_ms(1) >= 800, timeout=15)
        for _ in range(3):
            caller.say(sound + bytes(8000))
            await asyncio.sleep(0.8)
        await wait_for(listening_after(call, 1), timeout=20)
        await asyncio.sleep(1.0)
    assert not call.interrupts and not call.records[1].cancelled
    assert call.turns.turn_id == 1
    assert abs(caller.log.played_ms(1) - call.records[1].produced_ms) <= 100
