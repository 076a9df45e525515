"""What every comparison run shares: the run's name, the harness, the route to
the gateway (the relays, or the kernel path), the clients, and polling the
gateway's call record."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from gateway.compare.profiles import Profile
from gateway.compare.relay import TcpRelay, UdpRelay, sdp_through_relay
from gateway.compare.target import GivenGateways, LocalGateways, Target
from gateway.testing.browser_caller import BrowserCaller
from gateway.testing.page_caller import PageCaller
from gateway.testing.playout import Listener
from gateway.testing.twilio_caller import TwilioCaller
from gateway.testing.webrtc_caller import WebRtcCaller

TRANSPORTS = ("twilio", "websocket", "webrtc")
SCENARIOS = ("interrupt", "burst", "many", "backchannel")
MODES = ("controlled", "naive", "no-pause")
"""`no-pause`: flow-controlled, with provisional interrupts off (the barge-in
runs when speech is declared, as before they existed)."""
TALK_OVER_MODES = ("no-pause",)
"""Modes that only differ in what the caller's voice does to the agent."""
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
    network: str = "relay"
    """"relay": the user-space relays on loopback; "kernel": the gateway is
    reached directly, across the impaired kernel path this process is inside."""
    _mics: dict[str, Path] = field(default_factory=dict)
    """Kept across the groups of one matrix: each is written once."""

    def route(self, run: Run, target: Target) -> Relays | Direct:
        return Relays(run, target) if self.network == "relay" else Direct(target)

    def mic_wav(self, scenario: str) -> Path:
        """The page's fake microphone for a scenario (made once)."""
        if scenario not in self._mics:
            interruption = self.speech[INTERRUPTION] if scenario == "interrupt" else None
            self._mics[scenario] = PageCaller.write_mic(
                self.workdir / f"mic-{scenario}.wav", self.speech[QUESTION], interruption
            )
        return self._mics[scenario]


async def until(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("scenario step timed out")
        await asyncio.sleep(0.01)


async def until_record(
    read: Callable[[], Awaitable[dict | None]], check: Callable[[dict], bool], timeout: float
) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = await read()
        if record is not None and check(record):
            return record
        if time.monotonic() > deadline:
            seen = "no record" if record is None else (
                f"turn {record.get('turn_id')}, {record.get('phase')}, "
                f"{len(record.get('interrupts', []))} interrupts"
            )  # fmt: skip
            raise TimeoutError(f"the gateway's record never showed the expected step ({seen})")
        await asyncio.sleep(POLL_S)


def synthetic_caller(run: Run, route: Relays | Direct):
    where = f"{route.host}:{route.port}"
    listener = Listener.named(run.profile.playout)
    if run.transport == "twilio":
        return TwilioCaller(f"ws://{where}/twilio/media", listener=listener)
    if run.transport == "websocket":
        # The naive baseline has no window, so its client must hold whatever comes.
        ring = 600_000 if run.mode == "naive" else 4000
        return BrowserCaller(f"ws://{where}/browser/ws", listener=listener, ring_ms=ring)
    return WebRtcCaller(
        f"http://{where}",
        listener=listener,
        rewrite_answer=route.rewrite_sdp,
        rewrite_offer=route.rewrite_sdp,
    )


def call_id_of(caller) -> str:
    if isinstance(caller, TwilioCaller):
        return caller.call_sid
    if isinstance(caller, BrowserCaller):
        if caller.welcome is None:
            raise RuntimeError(f"the gateway refused the call: {caller.protocol_errors}")
        return caller.welcome["call_id"]
    if isinstance(caller, PageCaller):
        assert caller.call_id is not None
        return caller.call_id
    assert caller.call_id is not None
    return caller.call_id


def turn_of(record: dict, turn_id: int) -> dict | None:
    return next((t for t in record["turns"] if t["turn_id"] == turn_id), None)


def listening(record: dict) -> bool:
    return record["turn_id"] >= 1 and record["phase"] == "listening"


class Relays:
    """The relays' route: a TCP relay on loopback in front of the gateway, and
    for WebRTC a UDP relay in front of each side's host candidate."""

    host = "127.0.0.1"

    def __init__(self, run: Run, target: Target) -> None:
        self.run = run
        self.target = target
        self.tcp = TcpRelay(run.profile, target.port, target_host=target.host)
        self.udp: list[UdpRelay] = []
        self.rewrite_sdp: Callable[[str], Awaitable[str]] = sdp_through_relay(
            run.profile, self.udp
        )

    @property
    def port(self) -> int:
        return self.tcp.port

    async def __aenter__(self) -> Relays:
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


class Direct:
    """The kernel path's route: the gateway's own address, through the
    impairer that every packet between the namespaces crosses."""

    rewrite_sdp = None
    packets = None  # the forwarder counts them, per profile

    def __init__(self, target: Target) -> None:
        self.host = target.host
        self.port = target.port

    async def __aenter__(self) -> Direct:
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Nothing to stop: the path outlives the run."""


async def wait_ended(read: Callable[[], Awaitable[dict | None]]) -> None:
    try:
        await until_record(read, lambda r: r["ended"], 15)
    except TimeoutError:
        pass  # reported by the next run's gateway state, not fatal to this one


async def hang_up(caller, read: Callable[[], Awaitable[dict | None]] | None) -> None:
    with contextlib.suppress(Exception):  # the run's own error, if any, is the one to keep
        await caller.hang_up()
    if read is not None:
        await wait_ended(read)
