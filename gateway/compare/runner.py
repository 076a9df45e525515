"""Run the matrix: transports x profiles x scenarios x flow modes x clients, one
call each (or many at once), every listener figure taken at the listener on one
monotonic clock and every gateway figure read from its call record over HTTP."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from gateway.compare.backchannel_run import backchannel_run
from gateway.compare.harness import (
    CLIENTS,
    INTERRUPTION,
    MODES,
    PAGE_WIRES,
    QUESTION,
    SCENARIOS,
    TALK_OVER_MODES,
    TRANSPORTS,
    Gateways,
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
from gateway.compare.many_run import many_run
from gateway.compare.netpath import namespaces
from gateway.compare.netpath.gateways import KernelGateways
from gateway.compare.netpath.path import NetworkPath
from gateway.compare.page_backchannel_run import page_backchannel_run
from gateway.compare.page_run import page_run
from gateway.compare.profiles import Profile
from gateway.compare.target import Target, wall_to_monotonic
from gateway.pipeline.tts import EspeakTts
from gateway.testing import sounds
from transports.webrtc.aiortc_workarounds import advertise_host_addresses

__all__ = ["CLIENTS", "MODES", "SCENARIOS", "TRANSPORTS", "Run", "plan", "run_matrix"]


async def run_one(run: Run, harness: Harness) -> dict:
    record: dict = {"transport": run.transport, "profile": run.profile.to_dict(),
                    "scenario": run.scenario, "mode": run.mode, "client": run.client}  # fmt: skip
    try:
        target = await harness.gateways.get(run.mode)
        if run.scenario == "many":
            record.update(await many_run(run, harness, target))
        elif run.scenario == "backchannel":
            scenario = page_backchannel_run if run.client == "chromium" else backchannel_run
            record.update(await scenario(run, harness, target))
        elif run.client == "chromium":
            record.update(await page_run(run, harness, target))
        else:
            record.update(await _onesynthetic_caller(run, harness, target))
        record["ok"] = True
    except Exception as exc:  # a failed run is a result too; the matrix goes on
        record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return record


async def _onesynthetic_caller(run: Run, harness: Harness, target: Target) -> dict:
    out: dict = {}
    async with harness.route(run, target) as relays:
        caller = synthetic_caller(run, relays)
        read = None
        try:
            await caller.connect()
            call_id = call_id_of(caller)

            read = partial(target.record, harness.http, call_id)
            await until_record(read, listening, 20)
            caller.say(harness.speech[QUESTION])
            await until_record(read, lambda r: r["turn_id"] >= 2, 30)
            question_end = caller.last_voiced_sent
            # WebRTC carries no turn ids: there the agent's audio is whatever is voiced.
            reply = 2 if run.transport != "webrtc" else 1

            def first_reply_frame() -> float | None:
                frames = caller.log.frames
                return next((f.at for f in frames if f.turn == reply and f.at > question_end), None)

            await until(lambda: first_reply_frame() is not None, 30)
            out["ttfa_ms"] = (first_reply_frame() - question_end) * 1000
            if run.scenario == "interrupt":
                await asyncio.sleep(2.5)
                caller.say(harness.speech[INTERRUPTION])
                seen = await until_record(read, lambda r: bool(r["interrupts"]), 15)
                interrupt = seen["interrupts"][-1]
                at = wall_to_monotonic(interrupt["at"])
                await asyncio.sleep(1.5 + 2 * run.profile.delay_ms / 1000)
                # Without turn ids (WebRTC) the answer to the interruption is voiced
                # audio too: count up to the first frame the gateway sent of it.
                after = await read()
                nxt = after and turn_of(after, interrupt["turn_id"] + 1)
                until_next = (
                    wall_to_monotonic(nxt["first_sent_at"])
                    if reply == 1 and nxt and nxt["first_sent_at"]
                    else float("inf")
                )
                heard_truth = caller.log.played_before(reply, at)
                if reply == 1:  # the greeting was voiced too: count only this reply's audio
                    heard_truth -= caller.log.played_before(1, question_end)
                talk_over = caller.log.talk_over(
                    reply, caller.first_voiced_sent, caller.last_voiced_sent
                )
                out.update(
                    talk_over_ms=talk_over * 1000,
                    interrupt_at=at,
                    stale_ms=caller.log.stale_ms(reply, at, until_next),
                    barge_in_reaction_ms=(at - caller.first_voiced_sent) * 1000,
                    heard_error_ms=interrupt["heard_ms"] - heard_truth,
                )
            else:
                await asyncio.sleep(5.0)
            if run.transport == "webrtc":
                # RTP carries no turn ids, so pauses between words would look like gaps:
                # count frames that arrived after their slot in the 40 ms playout cushion.
                # From the question on: the call's start (ICE, DTLS) is not playout.
                count = caller.late_frames(question_end)
                gap_ms = count * 20
            else:
                count, gap_ms = caller.log.underruns()
            final = await read()
            assert final is not None
            out.update(
                window_ms=final["window_ms"],
                peak_client_buffer_ms=max((b for _, b in caller.log.buffer_ms), default=0.0),
                peak_in_flight_ms=final["peak_in_flight_ms"],
                underruns=count,
                underrun_ms=gap_ms,
                resumed=len(final.get("backchannels", [])),
                buffer_series=[(round(t, 3), round(b, 1)) for t, b in caller.log.buffer_ms[::5]],
                t0=caller.log.frames[0].at if caller.log.frames else None,
            )
        finally:
            await hang_up(caller, read)
        out["relayed_packets"] = relays.packets
    return out


def plan(
    transports: list[str],
    profiles: list[Profile],
    scenarios: list[str],
    modes: list[str],
    clients: list[str],
) -> list[Run]:
    """Every combination that means something: the page only over the browser
    wires and flow-controlled (it checks the synthetic playout models, and its
    own ring is bounded), many calls only flow-controlled and synthetic (it
    measures cost), and provisional interrupts
    off only where the caller speaks over the agent."""
    runs = []
    for p in profiles:
        for s in scenarios:
            for t in transports:
                for m in modes:
                    for c in clients:
                        if c == "chromium" and (
                            t not in PAGE_WIRES or s == "many" or m != "controlled"
                        ):
                            continue
                        if s == "many" and m != "controlled":
                            continue
                        if m in TALK_OVER_MODES and s not in ("interrupt", "backchannel"):
                            continue
                        runs.append(Run(t, p, s, m, c))
    return runs


async def run_matrix(
    gateways: Gateways,
    runs: list[Run],
    progress: Callable[[str], None] = print,
    many_calls: int = 10,
    many_seconds: float = 15.0,
    interruption: str = INTERRUPTION,
    network: str = "relay",
) -> list[dict]:
    """`interruption`: what the caller says over the reply in the interrupt scenario.
    `network`: "relay", or "kernel" for the impaired path between namespaces; there
    the comparison's own gateways start inside it, once per profile."""
    speech = await _speech(interruption)
    records: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="sluice-compare-") as workdir:
        shared = _Shared(speech, Path(workdir), many_calls, many_seconds, network, len(runs))
        if network == "relay":
            advertise_host_addresses(["127.0.0.1"])
            await _run_all(shared, gateways, runs, records, progress)
        else:
            for profile, group in _by_profile(runs):
                await _run_on_kernel_path(shared, profile, group, records, progress)
    return records


@dataclass
class _Shared:
    """What every group of runs shares, whichever path it takes."""

    speech: dict[str, bytes]
    workdir: Path
    many_calls: int
    many_seconds: float
    network: str
    total: int
    mics: dict[str, Path] = field(default_factory=dict)


async def _speech(interruption: str) -> dict[str, bytes]:
    tts = EspeakTts()
    try:
        speech = {
            QUESTION: await tts.synthesize(QUESTION),
            INTERRUPTION: await tts.synthesize(interruption),
        }
        speech["hm"] = await sounds.short_hm()
    finally:
        tts.close()
    return speech


async def _run_all(
    shared: _Shared, gateways: Gateways, runs: list[Run], records: list[dict],
    progress: Callable[[str], None],
) -> None:  # fmt: skip
    total = shared.total
    # Idle connections are dropped well before the gateway's own 5 s keep-alive
    # (uvicorn's): with equal timeouts a read could reuse a connection whose
    # close was still crossing a slow path ("Server disconnected without
    # sending a response", seen on wifi-bad).
    limits = httpx.Limits(keepalive_expiry=1.0)
    async with httpx.AsyncClient(timeout=10, limits=limits) as http:
        harness = Harness(gateways, shared.speech, http, shared.workdir, shared.many_calls,
                          shared.many_seconds, shared.network, shared.mics)  # fmt: skip
        try:
            for run in runs:
                i = len(records) + 1
                progress(f"[{i}/{total}] {run.label} …")
                started = time.monotonic()
                record = await run_one(run, harness)
                records.append(record)
                progress(f"[{i}/{total}] {run.label}: {_brief(record)} "
                         f"({time.monotonic() - started:.0f} s)")  # fmt: skip
        finally:
            await harness.gateways.stop()


def _by_profile(runs: list[Run]) -> list[tuple[Profile, list[Run]]]:
    groups: dict[str, tuple[Profile, list[Run]]] = {}
    for run in runs:
        groups.setdefault(run.profile.name, (run.profile, []))[1].append(run)
    return list(groups.values())


async def _run_on_kernel_path(
    shared: _Shared, profile: Profile, runs: list[Run], records: list[dict],
    progress: Callable[[str], None],
) -> None:  # fmt: skip
    """A fresh path for the profile, the gateways inside it, and this process's
    main thread in the caller namespace while the runs go: every socket the
    callers (and Chromium, started from here) open is on the caller's side."""
    first = len(records)
    with NetworkPath(profile) as path:
        with namespaces.entered(path.caller_ns):
            advertise_host_addresses([path.caller_address])
            await _run_all(shared, KernelGateways(path), runs, records, progress)
    calibration = path.calibration or {"valid": False, "verdicts": {}, "directions": {}}
    progress(f"{profile.name}: the path was {'valid' if calibration['valid'] else 'INVALID'}")
    for record in records[first:]:
        record["network"] = calibration
        record["network_valid"] = calibration["valid"]


def _brief(record: dict) -> str:
    if not record.get("ok"):
        return "FAILED " + record.get("error", "")
    if record["scenario"] == "backchannel":
        return (f"talk-over {record['talk_over_ms']:.0f} ms, pause {_n(record['pause_ms'])} ms, "
                f"lost {record['backchannel_loss_ms']:.0f} ms, "
                f"new reply: {'yes' if record['new_reply'] else 'no'}")  # fmt: skip
    if record["scenario"] == "many":
        cpu = record["cpu_per_call_pct"]
        return (f"{record['calls']} calls, {cpu} % of a core per call, "
                f"underruns in {record['calls_with_underruns']}")  # fmt: skip
    parts = [f"TTFA {record['ttfa_ms']:.0f} ms"]
    if "stale_ms" in record:
        parts.append(f"stale {record['stale_ms']:.0f} ms")
    parts.append(f"peak buffer {record['peak_client_buffer_ms']:.0f} ms")
    return ", ".join(parts)


def _n(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f}"
