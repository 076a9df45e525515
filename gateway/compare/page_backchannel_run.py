"""The backchannel scenario with the real page in Chromium as the listener.

Chromium's fake microphone plays a file from when the page opens it, so the
"hm" cannot be said on cue. A plain call first finds where the greeting
begins on the microphone's clock (and, over WebRTC, how much of it is voiced
and how long it takes to hear); the second call's file puts the hm about
`HM_AT_MS` into the greeting. The page records when the caller's voice began
(its microphone meter), and what it heard from its own timeline: the player's
count over WebSocket, the meter on the browser's output over WebRTC, where
NetEq, not a model of it, decides what plays when.
"""

from __future__ import annotations

import asyncio
import itertools
from functools import partial

from gateway.compare.backchannel_run import (
    HM_AT_MS,
    LISTEN_AFTER_S,
    SETTLE_S,
    gateway_side,
    with_baseline,
)
from gateway.compare.harness import (
    Harness,
    Run,
    call_id_of,
    hang_up,
    listening,
    turn_of,
    until_record,
)
from gateway.compare.heard_points import growth, heard_ms, resumed_at, span_s, talk_over_s
from gateway.compare.rtc_stats import summarize
from gateway.compare.target import Target
from gateway.testing.page_caller import PageCaller

_calls = itertools.count()
"""Names each call's microphone file within a matrix's work directory."""


ATTEMPTS = 3
"""Calls at most to land the hm inside the greeting (see `_landed`)."""
EARLIEST_S = 0.3
LATEST_S = 1.0
"""The hm must begin this far after the greeting's start and before its end:
a pause needs the uplink, the detector and the downlink to reach the listener,
and one that lands after the greeting's last audio cannot be heard at all."""


async def page_backchannel_run(run: Run, harness: Harness, target: Target) -> dict:
    plain = await _page_call(run, harness, target, hm_at_s=None)
    # When the greeting starts on the microphone's clock varies from call to
    # call (an ICE or DTLS packet lost on a lossy path is resent a second
    # later), so a call whose hm missed the scenario is made again, aimed by
    # its own greeting's start. Its figures are not kept: it measured
    # something else.
    greeting_after_s = plain["greeting_after_s"]
    for attempt in range(1, ATTEMPTS + 1):
        out = await _page_call(run, harness, target, greeting_after_s + HM_AT_MS / 1000)
        out["hm_attempts"] = attempt
        if _landed(out, plain["span_ms"]):
            break
        greeting_after_s = out["greeting_after_s"]
    else:
        raise RuntimeError(
            f"the hm missed the greeting in {ATTEMPTS} calls: it began "
            f"{out['hm_into_greeting_s']:.2f} s into a greeting heard for "
            f"{plain['span_ms']:.0f} ms"
        )
    if run.transport == "webrtc":
        return with_baseline(out, plain)
    out["backchannel_loss_ms"] = plain["heard_ms"] - out["heard_ms"]
    return out


async def _page_call(run: Run, harness: Harness, target: Target, hm_at_s: float | None) -> dict:
    hm = harness.speech["hm"] if hm_at_s is not None else None
    mic = PageCaller.write_hm_mic(
        harness.workdir / f"mic-hm-{next(_calls)}.wav", hm, hm_at_s or 0.0
    )
    out: dict = {}
    async with harness.route(run, target) as relays:
        caller = PageCaller(
            f"http://{relays.host}:{relays.port}/", run.transport, mic,
            rewrite_answer=relays.rewrite_sdp, rewrite_offer=relays.rewrite_sdp,
        )  # fmt: skip
        read = None
        try:
            await caller.connect()
            read = partial(target.record, harness.http, call_id_of(caller))
            await until_record(read, lambda r: listening(r) or r["turn_id"] > 1, 60)
            await asyncio.sleep(SETTLE_S + 2 * run.profile.delay_ms / 1000)
            record = await read()
            assert record is not None
            greeting = turn_of(record, 1)
            assert greeting is not None
            await caller.refresh()
            points = caller.heard_points()
            grew = growth(points)
            started = caller.mic_started()
            if not grew or started is None:
                raise RuntimeError("the page heard no greeting")
            out.update(
                heard_ms=heard_ms(points),
                greeting_ms=greeting["produced_ms"],
                span_ms=span_s(points) * 1000,
                greeting_after_s=grew[0] - started,
            )
            if hm is not None:
                out.update(_around_the_hm(points, caller, started, len(hm) / 32_000))
                out.update(underruns=record["underruns"], **gateway_side(record))
                if run.transport == "webrtc":
                    out["webrtc_stats"] = summarize(caller.rtc_stats(), out["onset_at"])
        finally:
            await hang_up(caller, read)
        out["relayed_packets"] = relays.packets
    return out


def _landed(out: dict, greeting_span_ms: float) -> bool:
    """Inside the greeting, as a plain call heard it; or it cut the greeting
    or was answered, which is the result to report, not a miss."""
    if out["interrupted"] or out["new_reply"]:
        return True
    into = out["hm_into_greeting_s"]
    return into >= EARLIEST_S and greeting_span_ms / 1000 - into >= LATEST_S


def _around_the_hm(
    points: list[tuple[float, float]], caller: PageCaller, started: float, hm_s: float
) -> dict:
    onset = next((t for t in caller.mic_onsets() if t >= started), None)
    grew = growth(points)
    if onset is None:
        raise RuntimeError("the page's microphone never heard the hm")
    talk_over = talk_over_s(points, onset, onset + hm_s + LISTEN_AFTER_S)
    stopped = onset + talk_over
    again = resumed_at(points, stopped)
    return {
        "onset_at": onset,
        "hm_into_greeting_s": onset - grew[0],
        "hm_ms": hm_s * 1000,
        "talk_over_ms": talk_over * 1000,
        "pause_ms": (again - stopped) * 1000 if again is not None else None,
        "peak_client_buffer_ms": caller.peak_buffer_ms(onset),
    }
