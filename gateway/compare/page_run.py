"""The interrupt and burst scenarios through the real page in Chromium."""

from __future__ import annotations

import asyncio
import time
from functools import partial

from gateway.compare.harness import (
    PAGE_WIRES,
    Harness,
    Run,
    call_id_of,
    hang_up,
    turn_of,
    until_record,
)
from gateway.compare.rtc_stats import summarize
from gateway.compare.target import Target, wall_to_monotonic
from gateway.testing.page_caller import PageCaller


async def page_run(run: Run, harness: Harness, target: Target) -> dict:
    """The same scenario through the real page; the microphone keeps its own schedule."""
    if run.transport not in PAGE_WIRES:
        raise ValueError(f"no page client for {run.transport}")
    out: dict = {}
    delay_s = run.profile.delay_ms / 1000
    async with harness.route(run, target) as relays:
        caller = PageCaller(
            f"http://{relays.host}:{relays.port}/", run.transport, harness.mic_wav(run.scenario),
            rewrite_answer=relays.rewrite_sdp, rewrite_offer=relays.rewrite_sdp,
        )  # fmt: skip
        read = None
        try:
            await caller.connect()
            call_id = call_id_of(caller)

            read = partial(target.record, harness.http, call_id)
            asked = await until_record(read, lambda r: r["turn_id"] >= 2, 40)
            reply = turn_of(asked, 2)
            assert reply is not None and reply["user_ended_at"] is not None
            # The gateway's end-of-speech estimate, moved back by the uplink's delay.
            question_end = wall_to_monotonic(reply["user_ended_at"]) - delay_s

            async def first_heard() -> float | None:
                await caller.refresh()
                return caller.first_heard_after(question_end)

            deadline = time.monotonic() + 30
            while (first := await first_heard()) is None:
                if time.monotonic() > deadline:
                    raise TimeoutError("the page never played the reply")
                await asyncio.sleep(0.1)
            out["ttfa_ms"] = (first - question_end) * 1000
            if run.scenario == "interrupt":
                seen = await until_record(read, lambda r: bool(r["interrupts"]), 20)
                interrupt = seen["interrupts"][-1]
                at = wall_to_monotonic(interrupt["at"])
                await asyncio.sleep(1.5 + 2 * delay_s)
                later = await read()
                await caller.refresh()
                # Count only the interrupted turn: stop where the next reply could arrive.
                nxt = turn_of(later, interrupt["turn_id"] + 1) if later else None
                cutoff = time.monotonic()
                if nxt is not None and nxt["first_sent_at"] is not None:
                    cutoff = min(cutoff, wall_to_monotonic(nxt["first_sent_at"]) + delay_s)
                heard_truth = caller.heard_between(question_end, at)
                out.update(
                    interrupt_at=at,
                    stale_ms=caller.heard_between(at, cutoff),
                    heard_error_ms=interrupt["heard_ms"] - heard_truth,
                )
            else:
                await asyncio.sleep(5.0)
                await caller.refresh()
            final = await read()
            assert final is not None
            stats = caller.stats
            series = caller.buffer_series()
            out.update(
                window_ms=final["window_ms"],
                peak_client_buffer_ms=caller.peak_buffer_ms(question_end),
                peak_in_flight_ms=final["peak_in_flight_ms"],
                # The page counts ring underruns over WebSocket; over WebRTC the
                # browser conceals gaps and reports no per-turn count.
                underruns=stats.get("underruns") if run.transport == "websocket" else None,
                underrun_ms=stats.get("underrunMs") if run.transport == "websocket" else None,
                buffer_series=[(round(t, 3), round(b, 1)) for t, b in series[::2]],
                t0=series[0][0] if series else None,
                packets_lost=stats.get("packetsLost"),
                jitter_buffer_ms=stats.get("jitterBufferMs"),
            )
            if run.transport == "webrtc":
                readings = caller.rtc_stats()
                out["webrtc_stats"] = summarize(readings, question_end)
                out["webrtc_stats_series"] = readings
        finally:
            await hang_up(caller, read)
        out["relayed_packets"] = relays.packets
    return out
