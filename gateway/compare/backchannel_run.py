"""The backchannel scenario: the listener says a short "hm" over the greeting.

What the listener heard, from their own playout record: how long they heard
the agent over their "hm" (talk-over), the silence that followed (the pause),
the audio of the greeting they never heard (backchannel loss), and whether a
new reply started.

WebRTC carries no turn ids, so there the greeting's audio is its voiced
frames, and a plain call first says how much of it is voiced and how long it
took to hear. Its pause is what the hm added to that time (plus any audio
lost): measured from the last voiced frame instead, it would take in whatever
gap between words the hm fell in, which is the speech, not the gateway. That
measure is kept beside it as `pause_after_last_voiced_ms`.
"""

from __future__ import annotations

import asyncio
from functools import partial

from gateway.compare.harness import (
    Harness,
    Run,
    call_id_of,
    hang_up,
    listening,
    synthetic_caller,
    turn_of,
    until,
    until_record,
)
from gateway.compare.target import Target, wall_to_monotonic

HM_AT_MS = 1000
"""How far into the greeting the listener says it."""
LISTEN_AFTER_S = 1.0
"""Talk-over counts agent audio heard up to this long after the hm ended."""
SETTLE_S = 2.0
"""After the greeting: time for the hm's own utterance to be understood, and
for a reply to it (which must not come) to start."""


async def backchannel_run(run: Run, harness: Harness, target: Target) -> dict:
    if run.transport != "webrtc":
        out = await _one_call(run, harness, target, hm=True)
        out["backchannel_loss_ms"] = out["greeting_ms"] - out["heard_ms"]
        return out
    plain = await _one_call(run, harness, target, hm=False)
    out = await _one_call(run, harness, target, hm=True)
    return with_baseline(out, plain)


def with_baseline(out: dict, plain: dict) -> dict:
    """A voiced-only listener's loss and pause, against a plain call's. A hm
    that cut the greeting (provisional interrupts off) left no pause to measure,
    and one that was answered put the answer's audio in the span."""
    lost = plain["heard_ms"] - out["heard_ms"]
    measurable = not out["interrupted"] and not out["new_reply"]
    out.update(
        backchannel_loss_ms=lost,
        pause_after_last_voiced_ms=out["pause_ms"],
        pause_ms=out["span_ms"] - plain["span_ms"] + lost if measurable else None,
        baseline_span_ms=plain["span_ms"],
    )
    return out


def gateway_side(record: dict) -> dict:
    """What the gateway's record says of the backchannel: its first pause on
    this machine's monotonic clock, and how long it lasted."""
    backchannels = record.get("backchannels", [])
    first = backchannels[0] if backchannels else None
    return {
        "gateway_paused_at": wall_to_monotonic(first["paused_at"]) if first else None,
        "gateway_resumed_at": wall_to_monotonic(first["resumed_at"]) if first else None,
        "new_reply": record["turn_id"] > 1,
        "resumed": len(backchannels),
        "gateway_pause_ms": (first["resumed_at"] - first["paused_at"]) * 1000 if first else None,
        "interrupted": len(record["interrupts"]),
        "window_ms": record["window_ms"],
        "peak_in_flight_ms": record["peak_in_flight_ms"],
    }


async def _one_call(run: Run, harness: Harness, target: Target, hm: bool) -> dict:
    async with harness.route(run, target) as relays:
        caller = synthetic_caller(run, relays)
        read = None
        try:
            await caller.connect()
            read = partial(target.record, harness.http, call_id_of(caller))
            await until(lambda: caller.log.played_ms(1) >= HM_AT_MS, 30)
            out: dict = {}
            if hm:
                caller.say(harness.speech["hm"])
                await until(lambda: caller.last_voiced_sent is not None, 5)
                onset = caller.first_voiced_sent
                await until(lambda: not caller.mic.speaking, 5)
                ended = caller.last_voiced_sent
                assert onset is not None and ended is not None
            # Listening after the greeting, or a turn (the hm's answer, or the
            # greeting cut) that began since.
            record = await until_record(read, lambda r: listening(r) or r["turn_id"] > 1, 60)
            await asyncio.sleep(SETTLE_S + 2 * run.profile.delay_ms / 1000)
            record = await read()
            assert record is not None
            greeting = turn_of(record, 1)
            assert greeting is not None
            out.update(
                heard_ms=caller.log.played_ms(1),
                greeting_ms=greeting["produced_ms"],
                span_ms=caller.log.span_s(1) * 1000,
            )
            if hm:
                # Heard over the hm, and after it until the agent went quiet: on a
                # slow path the pause may only reach the listener once they are done.
                talk_over = caller.log.talk_over(1, onset, ended + LISTEN_AFTER_S)
                stopped = onset + talk_over
                again = next(
                    (f.at for f in caller.log.frames if f.turn == 1 and f.at >= stopped), None
                )
                out.update(
                    talk_over_ms=talk_over * 1000,
                    pause_ms=(again - stopped) * 1000 if again is not None else None,
                    hm_ms=(ended - onset) * 1000,
                    peak_client_buffer_ms=caller.log.peak_buffer_ms,
                    underruns=record["underruns"],
                    **gateway_side(record),
                )
        finally:
            await hang_up(caller, read)
        out["relayed_packets"] = relays.packets
    return out
