"""Property-based fuzzing of WebRTC offers (transports.webrtc).

answer() either answers or raises OfferRejected, and closing the session never
raises; the candidate count checked before answering never undercounts.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import aioice.ice
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from tests.unit.fuzz_material import FAST, SLOW
from transports.webrtc.aiortc_workarounds import advertise_host_addresses
from transports.webrtc.offer_check import count_candidates, offer_problem
from transports.webrtc.session import OfferRejected, WebRtcSession

pytestmark = pytest.mark.timeout(120)


SDP_ATTRIBUTES = [
    "candidate",
    "end-of-candidates",
    "rtpmap",
    "fmtp",
    "rtcp-fb",
    "extmap",
    "ssrc",
    "ssrc-group",
    "msid",
    "msid-semantic",
    "mid",
    "group",
    "setup",
    "fingerprint",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "rtcp",
    "rtcp-mux",
    "sendrecv",
    "recvonly",
    "sendonly",
    "inactive",
    "sctpmap",
    "sctp-port",
    "max-message-size",
]
_TOKENS = st.one_of(
    st.integers().map(str),
    st.integers(-1, 70_000).map(str),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12),
    st.sampled_from(["udp", "tcp", "typ", "host", "srflx", "relay", "prflx", "raddr", "rport"]),
    st.sampled_from(["127.0.0.1", "::1", "opus/48000/2", "sha-256", "actpass", "IN", "IP4"]),
)
SDP_VALUES = st.one_of(
    st.text(max_size=60),
    st.lists(_TOKENS, max_size=10).map(" ".join),
    st.sampled_from(["", " ", ":", "-1", "256", "99999999999999999999", "0", "nan"]),
)


def _loopback_only(sdp: str) -> str:
    """Points every remote ICE candidate at 127.0.0.1.

    aiortc runs connectivity checks against the offer's candidates (and resolves
    `.local` ones by multicast DNS); a fuzzed offer must not aim them off this
    machine. The lines are split as aiortc's own SDP parser splits them.
    """
    lines = sdp.splitlines()
    changed = False
    for i, line in enumerate(lines):
        if not (line.startswith("a=") and ":" in line):
            continue
        attr, value = line[2:].split(":", 1)
        bits = value.split()
        if attr == "candidate" and len(bits) >= 5 and bits[4] != "127.0.0.1":
            bits[4] = "127.0.0.1"
            lines[i] = "a=candidate:" + " ".join(bits)
            changed = True
    return "\r\n".join(lines) + "\r\n" if changed else sdp


def _aiortc_candidates(sdp: str) -> int:
    """The candidate lines aiortc would act on: `a=candidate:` in a media section."""
    count, in_media = 0, False
    for line in sdp.splitlines():
        in_media = in_media or line.startswith("m=")
        if in_media and line.startswith("a=") and line[2:].split(":", 1)[0] == "candidate":
            count += ":" in line
    return count


@st.composite
def mutated_sdp(draw: st.DrawFn, offers: list[str]) -> str:
    """A real offer with lines deleted, duplicated, swapped, rewritten or added, maybe cut short."""
    lines = draw(st.sampled_from(offers)).splitlines()
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "rewrite", "insert"]))
        if not lines:
            op = "insert"
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "rewrite":
            line = lines[i]
            keep = (
                line[: line.index(":") + 1] if line.startswith("a=") and ":" in line else line[:2]
            )
            lines[i] = keep + draw(SDP_VALUES)
        else:
            attr = draw(st.sampled_from(SDP_ATTRIBUTES) | st.text(max_size=10))
            value = draw(st.none() | SDP_VALUES)
            lines.insert(i, f"a={attr}" if value is None else f"a={attr}:{value}")
    text = draw(st.sampled_from(["\r\n", "\n"])).join(lines) + "\r\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@pytest.fixture(scope="module")
def loopback_ice() -> Iterator[None]:
    """Host candidates on 127.0.0.1 only, for offers and answers alike; restored after."""
    saved = aioice.ice.get_host_addresses
    advertise_host_addresses(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = saved


@pytest.fixture(scope="module")
def offers(loop: asyncio.AbstractEventLoop, loopback_ice: None) -> list[str]:
    """Two real aiortc offers: audio only, and audio with the page's data channel."""

    async def offer(channel: bool) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTransceiver("audio")
            if channel:
                pc.createDataChannel("events")
            await pc.setLocalDescription(await pc.createOffer())
            return pc.localDescription.sdp
        finally:
            await pc.close()

    made = [loop.run_until_complete(offer(False)), loop.run_until_complete(offer(True))]
    assert all("a=candidate:" in sdp and "127.0.0.1" in sdp for sdp in made)
    return made


@pytest.fixture(scope="module")
def webrtc_ctx() -> GatewayContext:
    # The session reads only settings, metrics and clock; no models are needed.
    settings = Settings(webrtc_stun_url="", webrtc_turn_url="")
    return GatewayContext(settings=settings, services=None)  # type: ignore[arg-type]


def _answer(loop: asyncio.AbstractEventLoop, ctx: GatewayContext, sdp: str) -> str | None:
    """answer() held to its contract: an SDP answer, or OfferRejected; always closed."""

    async def run() -> str | None:
        session = WebRtcSession("rtc-fuzz", ctx)
        try:
            return await session.answer(_loopback_only(sdp))
        except OfferRejected:
            return None
        finally:
            # Must not raise either: signalling closes every rejected session this way.
            await session.close()

    answer = loop.run_until_complete(run())
    assert answer is None or (isinstance(answer, str) and answer.startswith("v=0"))
    return answer


def test_the_webrtc_seeds_are_answered(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, offers: list[str]
) -> None:
    for sdp in offers:
        answer = _answer(loop, webrtc_ctx, sdp)
        assert answer is not None and "m=audio" in answer


def test_webrtc_a_bundle_naming_no_section(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, offers: list[str]
) -> None:
    """Found by the fuzzing below: a BUNDLE group whose first mid names no media
    section leaves aiortc's transports unset. Pinned here so it fails every run."""
    for sdp in offers:
        assert "a=group:BUNDLE 0" in sdp
        _answer(loop, webrtc_ctx, sdp.replace("a=group:BUNDLE 0", "a=group:BUNDLE x 0"))


@SLOW
@given(data=st.data())
def test_webrtc_mutated_offers(
    loop: asyncio.AbstractEventLoop,
    webrtc_ctx: GatewayContext,
    offers: list[str],
    data: st.DataObject,
) -> None:
    _answer(loop, webrtc_ctx, data.draw(mutated_sdp(offers)))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(st.text(max_size=500))
@example("")
@example("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 999\r\n")
def test_webrtc_arbitrary_text(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, loopback_ice: None, sdp: str
) -> None:
    _answer(loop, webrtc_ctx, sdp)


@FAST
@given(data=st.data())
def test_count_candidates(offers: list[str], data: st.DataObject) -> None:
    """The candidate limit is checked before answering, so it must count at least every
    candidate aiortc would go on to probe, however the lines are broken."""
    sdp = data.draw(st.one_of(mutated_sdp(offers), st.text(max_size=500)))
    count = count_candidates(sdp)
    assert isinstance(count, int) and 0 <= count <= len(sdp.splitlines())
    assert count >= _aiortc_candidates(sdp)


@FAST
@given(data=st.data())
def test_the_offer_check_never_raises_and_passes_only_fingerprinted_offers(
    offers: list[str], data: st.DataObject
) -> None:
    """What reaches aiortc carries a DTLS fingerprint it can verify: without one,
    aiortc fails later inside a task, with a traceback and a live session."""
    sdp = data.draw(st.one_of(mutated_sdp(offers), st.text(max_size=500)))
    problem = offer_problem(sdp, max_candidates=8)
    assert problem is None or isinstance(problem, str)
    if problem is None:
        hashes = [
            line[len("a=fingerprint:") :].split(" ")[0].lower()
            for line in sdp.splitlines()
            if line.startswith("a=fingerprint:")
        ]
        assert hashes and set(hashes) <= {"sha-256", "sha-384", "sha-512"}
        assert count_candidates(sdp) <= 8
