"""Run the matrix: transports x profiles x scenarios x flow modes, one call each,
every figure taken at the listener on one monotonic clock."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from gateway.compare.profiles import Profile
from gateway.compare.relay import TcpRelay, UdpRelay
from gateway.config import Settings
from gateway.services import Services
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.inprocess import RunningGateway, start_gateway
from gateway.testing.playout import Listener
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller
from gateway.turns import TurnPhase
from transports.webrtc.aiortc_workarounds import advertise_host_addresses

TRANSPORTS = ("twilio", "websocket", "webrtc")
SCENARIOS = ("interrupt", "burst")
MODES = ("controlled", "naive")
QUESTION = "Please tell me a long story."
INTERRUPTION = "Stop. Wait a moment."
_CANDIDATE = re.compile(r"a=candidate:(\S+) (\d) udp (\d+) ([\d.]+) (\d+) typ host")


@dataclass
class Run:
    transport: str
    profile: Profile
    scenario: str
    mode: str

    @property
    def label(self) -> str:
        return f"{self.transport} × {self.profile.name} × {self.scenario} ({self.mode})"


class Gateways:
    """One in-process gateway per flow mode, sharing the loaded models."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self._running: dict[str, RunningGateway] = {}

    async def get(self, mode: str) -> RunningGateway:
        if mode not in self._running:
            settings = Settings(
                flow_mode=mode,
                greeting="Hello.",
                vad_min_silence_ms=500,
                webrtc_host_addresses="127.0.0.1",
                stall_timeout_s=30,
            )
            self._running[mode] = await start_gateway(settings, self.services)
        return self._running[mode]

    async def stop(self) -> None:
        for gw in self._running.values():
            await gw.stop()


async def _until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("scenario step timed out")
        await asyncio.sleep(0.01)


async def _connect(run: Run, gw: RunningGateway, tcp: TcpRelay, udp: list[UdpRelay]):
    port = tcp.port
    listener = Listener.named(run.profile.playout)
    if run.transport == "twilio":
        caller = TwilioCaller(f"ws://127.0.0.1:{port}/twilio/media", listener=listener)
    elif run.transport == "websocket":
        # The naive baseline has no window, so its client must hold whatever comes.
        ring = 600_000 if run.mode == "naive" else 4000
        caller = BrowserCaller(f"ws://127.0.0.1:{port}/browser/ws", listener=listener, ring_ms=ring)
    else:

        async def through_relay(sdp: str) -> str:
            # Point the answer's host candidate at a UDP relay in front of it.
            match = _CANDIDATE.search(sdp)
            if match is None:
                raise RuntimeError("the answer has no host candidate")
            relay = await UdpRelay(run.profile, (match.group(4), int(match.group(5)))).start()
            udp.append(relay)
            kept = [line for line in sdp.split("\r\n") if not line.startswith("a=candidate:")]
            foundation, priority = match.group(1), match.group(3)
            candidate = f"a=candidate:{foundation} 1 udp {priority} 127.0.0.1 {relay.port} typ host"
            out = []
            for line in kept:
                out.append(line)
                if line.startswith("a=ice-pwd"):
                    out.append(candidate)
            return "\r\n".join(out)

        caller = WebRtcCaller(
            f"http://127.0.0.1:{port}", listener=listener, rewrite_answer=through_relay
        )
    await caller.connect()
    return caller


def _window(gw: RunningGateway, transport: str) -> int:
    s = gw.settings
    configured = {
        "twilio": s.twilio_window_ms,
        "websocket": s.browser_window_ms,
        "webrtc": s.webrtc_cushion_ms,
    }[transport]
    return s.window_ms(configured)


async def run_one(run: Run, gateways: Gateways, speech: dict[str, bytes]) -> dict:
    gw = await gateways.get(run.mode)
    tcp = await TcpRelay(run.profile, int(gw.base_url.rsplit(":", 1)[1])).start()
    udp: list[UdpRelay] = []
    record: dict = {"transport": run.transport, "profile": run.profile.to_dict(),
                    "scenario": run.scenario, "mode": run.mode}  # fmt: skip
    caller = None
    try:
        caller = await _connect(run, gw, tcp, udp)
        await _until(lambda: len(gw.ctx.calls) >= 1, 10)
        call = next(c for c in gw.ctx.calls.values())
        await _until(
            lambda: call.turns.turn_id >= 1 and call.turns.phase is TurnPhase.LISTENING, 20
        )
        caller.say(speech[QUESTION])
        await _until(lambda: call.turns.turn_id >= 2, 30)
        question_end = caller.last_voiced_sent
        # WebRTC carries no turn ids: there the agent's audio is whatever is voiced.
        reply = 2 if run.transport != "webrtc" else 1

        def first_reply_frame() -> float | None:
            return next(
                (f.at for f in caller.log.frames if f.turn == reply and f.at > question_end), None
            )

        await _until(lambda: first_reply_frame() is not None, 30)
        record["ttfa_ms"] = (first_reply_frame() - question_end) * 1000
        if run.scenario == "interrupt":
            await asyncio.sleep(2.5)
            caller.say(speech[INTERRUPTION])
            await _until(lambda: bool(call.interrupts), 15)
            interrupt = call.interrupts[-1]
            await asyncio.sleep(1.5 + 2 * run.profile.delay_ms / 1000)
            heard_truth = caller.log.played_before(reply, interrupt.at)
            if reply == 1:  # the greeting was voiced too: count only this reply's audio
                heard_truth -= caller.log.played_before(1, question_end)
            record.update(
                interrupt_at=interrupt.at,
                stale_ms=caller.log.stale_ms(reply, interrupt.at),
                barge_in_reaction_ms=(interrupt.at - caller.first_voiced_sent) * 1000,
                heard_error_ms=interrupt.heard_ms - heard_truth,
            )
        else:
            await asyncio.sleep(5.0)
        if run.transport == "webrtc":
            # RTP carries no turn ids, so pauses between words would look like gaps:
            # count frames that arrived after their slot in the 40 ms playout cushion.
            # From the question on: the call's start (ICE, DTLS) is not playout.
            late = caller.frame_delays_ms(question_end) > caller.playout_delay_frames * 20
            count, gap_ms = int(late.sum()), int(late.sum()) * 20
        else:
            count, gap_ms = caller.log.underruns()
        record.update(
            ok=True,
            window_ms=_window(gw, run.transport),
            peak_client_buffer_ms=max((b for _, b in caller.log.buffer_ms), default=0.0),
            peak_in_flight_ms=call.flow.window.peak_in_flight_ms,
            underruns=count,
            underrun_ms=gap_ms,
            buffer_series=[(round(t, 3), round(b, 1)) for t, b in caller.log.buffer_ms[::5]],
            t0=caller.log.frames[0].at if caller.log.frames else None,
            relayed_packets=sum(r.out.sent + r.back.sent for r in udp)
            + sum(d.sent for d in tcp.directions),
        )
    except Exception as exc:  # a failed run is a result too; the matrix goes on
        record.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        if caller is not None:
            await caller.hang_up()
        await tcp.stop()
        for relay in udp:
            await relay.stop()
        await _until(lambda: not gw.ctx.calls, 15)
    return record


async def run_matrix(
    services: Services,
    transports: list[str],
    profiles: list[Profile],
    scenarios: list[str],
    modes: list[str],
    progress: Callable[[str], None] = print,
) -> list[dict]:
    advertise_host_addresses(["127.0.0.1"])
    speech = {text: await services.tts.synthesize(text) for text in (QUESTION, INTERRUPTION)}
    runs = [Run(t, p, s, m) for p in profiles for s in scenarios for t in transports for m in modes]
    gateways = Gateways(services)
    records = []
    try:
        for i, run in enumerate(runs, 1):
            progress(f"[{i}/{len(runs)}] {run.label} …")
            started = time.monotonic()
            record = await run_one(run, gateways, speech)
            records.append(record)
            progress(f"[{i}/{len(runs)}] {run.label}: {_brief(record)} "
                     f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    finally:
        await gateways.stop()
    return records


def _brief(record: dict) -> str:
    if not record.get("ok"):
        return "FAILED " + record.get("error", "")
    parts = [f"TTFA {record['ttfa_ms']:.0f} ms"]
    if "stale_ms" in record:
        parts.append(f"stale {record['stale_ms']:.0f} ms")
    parts.append(f"peak buffer {record['peak_client_buffer_ms']:.0f} ms")
    return ", ".join(parts)
