"""Run the matrix: transports x profiles x scenarios x flow modes x clients, one
call each (or many at once), every listener figure taken at the listener on one
monotonic clock and every gateway figure read from its call record over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from gateway.compare.profiles import Profile
from gateway.compare.relay import TcpRelay, UdpRelay, sdp_through_relay
from gateway.compare.target import GivenGateways, LocalGateways, Target, wall_to_monotonic
from gateway.pipeline.tts import EspeakTts
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.page_caller import PageCaller
from gateway.testing.playout import Listener
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from transports.webrtc.aiortc_workarounds import advertise_host_addresses

TRANSPORTS = ("twilio", "websocket", "webrtc")
SCENARIOS = ("interrupt", "burst", "many")
MODES = ("controlled", "naive")
CLIENTS = ("synthetic", "chromium")
PAGE_WIRES = ("websocket", "webrtc")
"""Twilio's far end is the phone network: no page to drive."""
POLL_S = 0.05
QUESTION = "Please tell me a long story."
INTERRUPTION = "Stop. Wait a moment."


@dataclass
class Run:
    transport: str
    profile: Profile
    scenario: str
    mode: str
    client: str = "synthetic"

    @property
    def label(self) -> str:
        client = "" if self.client == "synthetic" else f", {self.client}"
        return f"{self.transport} × {self.profile.name} × {self.scenario} ({self.mode}{client})"


Gateways = LocalGateways | GivenGateways


@dataclass
class Harness:
    """What every run of one matrix shares."""

    gateways: Gateways
    speech: dict[str, bytes]
    http: httpx.AsyncClient
    workdir: Path
    many_calls: int = 10
    many_seconds: float = 15.0
    _mics: dict[str, Path] = field(default_factory=dict)

    def mic_wav(self, scenario: str) -> Path:
        """The page's fake microphone for a scenario (made once)."""
        if scenario not in self._mics:
            interruption = self.speech[INTERRUPTION] if scenario == "interrupt" else None
            self._mics[scenario] = PageCaller.write_mic(
                self.workdir / f"mic-{scenario}.wav", self.speech[QUESTION], interruption
            )
        return self._mics[scenario]


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("scenario step timed out")
        await asyncio.sleep(0.01)


async def _until_record(
    read: Callable[[], Awaitable[dict | None]], check: Callable[[dict], bool], timeout: float
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = await read()
        if record is not None and check(record):
            return record
        if time.monotonic() > deadline:
            raise TimeoutError("the gateway's record never showed the expected step")
        await asyncio.sleep(POLL_S)


def _synthetic(run: Run, tcp: TcpRelay, udp: list[UdpRelay]):
    port = tcp.port
    listener = Listener.named(run.profile.playout)
    if run.transport == "twilio":
        return TwilioCaller(f"ws://127.0.0.1:{port}/twilio/media", listener=listener)
    if run.transport == "websocket":
        # The naive baseline has no window, so its client must hold whatever comes.
        ring = 600_000 if run.mode == "naive" else 4000
        return BrowserCaller(f"ws://127.0.0.1:{port}/browser/ws", listener=listener, ring_ms=ring)
    return WebRtcCaller(
        f"http://127.0.0.1:{port}",
        listener=listener,
        rewrite_answer=sdp_through_relay(run.profile, udp),
        rewrite_offer=sdp_through_relay(run.profile, udp),
    )


def _call_id(caller) -> str:
    if isinstance(caller, TwilioCaller):
        return caller.call_sid
    if isinstance(caller, BrowserCaller):
        if caller.welcome is None:
            raise RuntimeError(f"the gateway refused the call: {caller.protocol_errors}")
        return caller.welcome["call_id"]
    if isinstance(caller, PageCaller):
        assert caller.call_id is not None
        return caller.call_id
    assert caller.resource is not None
    return caller.resource.rsplit("/", 1)[-1]


def _turn(record: dict, turn_id: int) -> dict | None:
    return next((t for t in record["turns"] if t["turn_id"] == turn_id), None)


def _listening(record: dict) -> bool:
    return record["turn_id"] >= 1 and record["phase"] == "listening"


class _Relays:
    def __init__(self, run: Run, target: Target) -> None:
        self.run = run
        self.target = target
        self.tcp = TcpRelay(run.profile, target.port, target_host=target.host)
        self.udp: list[UdpRelay] = []

    async def __aenter__(self) -> _Relays:
        await self.tcp.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.tcp.stop()
        for relay in self.udp:
            await relay.stop()

    @property
    def packets(self) -> int:
        return sum(r.out.sent + r.back.sent for r in self.udp) + sum(
            d.sent for d in self.tcp.directions
        )


async def run_one(run: Run, harness: Harness) -> dict:
    record: dict = {"transport": run.transport, "profile": run.profile.to_dict(),
                    "scenario": run.scenario, "mode": run.mode, "client": run.client}  # fmt: skip
    try:
        target = await harness.gateways.get(run.mode)
        if run.scenario == "many":
            record.update(await _many(run, harness, target))
        elif run.client == "chromium":
            record.update(await _page(run, harness, target))
        else:
            record.update(await _one_synthetic(run, harness, target))
        record["ok"] = True
    except Exception as exc:  # a failed run is a result too; the matrix goes on
        record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    return record


async def _ended(read: Callable[[], Awaitable[dict | None]]) -> None:
    try:
        await _until_record(read, lambda r: r["ended"], 15)
    except TimeoutError:
        pass  # reported by the next run's gateway state, not fatal to this one


async def _one_synthetic(run: Run, harness: Harness, target: Target) -> dict:
    out: dict = {}
    async with _Relays(run, target) as relays:
        caller = _synthetic(run, relays.tcp, relays.udp)
        read = None
        try:
            await caller.connect()
            call_id = _call_id(caller)

            read = partial(target.record, harness.http, call_id)
            await _until_record(read, _listening, 20)
            caller.say(harness.speech[QUESTION])
            await _until_record(read, lambda r: r["turn_id"] >= 2, 30)
            question_end = caller.last_voiced_sent
            # WebRTC carries no turn ids: there the agent's audio is whatever is voiced.
            reply = 2 if run.transport != "webrtc" else 1

            def first_reply_frame() -> float | None:
                frames = caller.log.frames
                return next((f.at for f in frames if f.turn == reply and f.at > question_end), None)

            await _until(lambda: first_reply_frame() is not None, 30)
            out["ttfa_ms"] = (first_reply_frame() - question_end) * 1000
            if run.scenario == "interrupt":
                await asyncio.sleep(2.5)
                caller.say(harness.speech[INTERRUPTION])
                seen = await _until_record(read, lambda r: bool(r["interrupts"]), 15)
                interrupt = seen["interrupts"][-1]
                at = wall_to_monotonic(interrupt["at"])
                await asyncio.sleep(1.5 + 2 * run.profile.delay_ms / 1000)
                heard_truth = caller.log.played_before(reply, at)
                if reply == 1:  # the greeting was voiced too: count only this reply's audio
                    heard_truth -= caller.log.played_before(1, question_end)
                out.update(
                    interrupt_at=at,
                    stale_ms=caller.log.stale_ms(reply, at),
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
                buffer_series=[(round(t, 3), round(b, 1)) for t, b in caller.log.buffer_ms[::5]],
                t0=caller.log.frames[0].at if caller.log.frames else None,
            )
        finally:
            with contextlib.suppress(Exception):  # the run's own error, if any, is the one to keep
                await caller.hang_up()
            if read is not None:
                await _ended(read)
        out["relayed_packets"] = relays.packets
    return out


async def _page(run: Run, harness: Harness, target: Target) -> dict:
    """The same scenario through the real page; the microphone keeps its own schedule."""
    if run.transport not in PAGE_WIRES:
        raise ValueError(f"no page client for {run.transport}")
    out: dict = {}
    delay_s = run.profile.delay_ms / 1000
    async with _Relays(run, target) as relays:
        caller = PageCaller(
            f"http://127.0.0.1:{relays.tcp.port}/", run.transport, harness.mic_wav(run.scenario),
            rewrite_answer=sdp_through_relay(run.profile, relays.udp),
            rewrite_offer=sdp_through_relay(run.profile, relays.udp),
        )  # fmt: skip
        read = None
        try:
            await caller.connect()
            call_id = _call_id(caller)

            read = partial(target.record, harness.http, call_id)
            asked = await _until_record(read, lambda r: r["turn_id"] >= 2, 40)
            reply = _turn(asked, 2)
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
                seen = await _until_record(read, lambda r: bool(r["interrupts"]), 20)
                interrupt = seen["interrupts"][-1]
                at = wall_to_monotonic(interrupt["at"])
                await asyncio.sleep(1.5 + 2 * delay_s)
                later = await read()
                await caller.refresh()
                # Count only the interrupted turn: stop where the next reply could arrive.
                nxt = _turn(later, interrupt["turn_id"] + 1) if later else None
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
        finally:
            with contextlib.suppress(Exception):  # the run's own error, if any, is the one to keep
                await caller.hang_up()
            if read is not None:
                await _ended(read)
        out["relayed_packets"] = relays.packets
    return out


async def _many(run: Run, harness: Harness, target: Target) -> dict:
    """Many calls at once, each asking for a long story: the gateway's CPU per call."""
    n = harness.many_calls
    async with _Relays(run, target) as relays:
        callers = [_synthetic(run, relays.tcp, relays.udp) for _ in range(n)]
        try:
            for caller in callers:
                await caller.connect()
                await asyncio.sleep(0.05)  # a ramp, not a thundering herd
            ids = [_call_id(c) for c in callers]
            for call_id in ids:
                await _until_record(partial(target.record, harness.http, call_id), _listening, 30)
            for caller in callers:
                caller.say(harness.speech[QUESTION])
            await _until(lambda: all(c.log.played_ms(2 if run.transport != "webrtc" else 1,
                                                    after=c.last_voiced_sent or 0) > 0
                                     for c in callers), 40)  # fmt: skip
            since = time.monotonic()
            cpu0 = await target.cpu_seconds(harness.http)
            await asyncio.sleep(harness.many_seconds)
            cpu1 = await target.cpu_seconds(harness.http)
            elapsed = time.monotonic() - since
            if run.transport == "webrtc":
                late = [c.late_frames(since) for c in callers]
            else:
                late = [c.log.underruns()[0] for c in callers]
            cores = None if cpu0 is None or cpu1 is None else (cpu1 - cpu0) / elapsed
            return {
                "calls": n,
                "seconds": round(elapsed, 1),
                "gateway_cores": None if cores is None else round(cores, 3),
                "cpu_per_call_pct": None if cores is None else round(cores / n * 100, 2),
                "calls_with_underruns": sum(1 for x in late if x),
                "underruns": sum(late),
                "peak_client_buffer_ms": max(
                    (b for c in callers for _, b in c.log.buffer_ms), default=0.0
                ),
                "relayed_packets": relays.packets,
            }
        finally:
            await asyncio.gather(*(c.hang_up() for c in callers), return_exceptions=True)
            # Their teardown must not land in the next run's figures.
            for caller in callers:
                if isinstance(caller, (TwilioCaller, BrowserCaller)) or caller.resource:
                    with contextlib.suppress(Exception):
                        await _ended(partial(target.record, harness.http, _call_id(caller)))


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
    measures cost)."""
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
                        runs.append(Run(t, p, s, m, c))
    return runs


async def run_matrix(
    gateways: Gateways,
    runs: list[Run],
    progress: Callable[[str], None] = print,
    many_calls: int = 10,
    many_seconds: float = 15.0,
) -> list[dict]:
    advertise_host_addresses(["127.0.0.1"])
    tts = EspeakTts()
    try:
        speech = {text: await tts.synthesize(text) for text in (QUESTION, INTERRUPTION)}
    finally:
        tts.close()
    records = []
    with tempfile.TemporaryDirectory(prefix="sluice-compare-") as workdir:
        async with httpx.AsyncClient(timeout=10) as http:
            harness = Harness(gateways, speech, http, Path(workdir), many_calls, many_seconds)
            try:
                for i, run in enumerate(runs, 1):
                    progress(f"[{i}/{len(runs)}] {run.label} …")
                    started = time.monotonic()
                    record = await run_one(run, harness)
                    records.append(record)
                    progress(f"[{i}/{len(runs)}] {run.label}: {_brief(record)} "
                             f"({time.monotonic() - started:.0f} s)")  # fmt: skip
            finally:
                await gateways.stop()
    return records


def _brief(record: dict) -> str:
    if not record.get("ok"):
        return "FAILED " + record.get("error", "")
    if record["scenario"] == "many":
        cpu = record["cpu_per_call_pct"]
        return (f"{record['calls']} calls, {cpu} % of a core per call, "
                f"underruns in {record['calls_with_underruns']}")  # fmt: skip
    parts = [f"TTFA {record['ttfa_ms']:.0f} ms"]
    if "stale_ms" in record:
        parts.append(f"stale {record['stale_ms']:.0f} ms")
    parts.append(f"peak buffer {record['peak_client_buffer_ms']:.0f} ms")
    return ", ".join(parts)
