"""One WebRTC call: a peer connection, the paced track, the tapped receiver, a
data channel for events, and the shared call behind them."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque

from aiortc import (
    RTCPeerConnection,
    RTCRtpSender,
    RTCSessionDescription,
)

from gateway.audio.frames import FRAME_BYTES, FRAME_MS, INTERNAL_RATE
from gateway.audio.opus import OpusDecoder, OpusError
from gateway.flow.credit import CreditWindow
from gateway.flow.grants import GrantTracker
from gateway.flow.pacer import Pacer
from gateway.runtime.context import GatewayContext
from gateway.wire import AudioChunk, Call, CallEvent, Cleared, Mark, PlayedTo, RoomGranted
from transports.call_runner import run_call
from transports.webrtc.aiortc_workarounds import tap_audio_receiver
from transports.webrtc.ice_servers import rtc_configuration
from transports.webrtc.track import PacedAudioTrack

log = logging.getLogger(__name__)

KIND = "webrtc"
INBOUND_FRAMES = 50
"""Decoded caller frames waiting for the call (1 s); beyond that the oldest go."""
DATA_CHANNEL_LIMIT = 256 * 1024
EARLY_EVENTS = 64
"""Events held until the page's data channel opens (the greeting starts before
it does); past this the oldest go: events are advisory, audio never waits."""
CONFIRM_EVERY = 5
LATE_AFTER_MS = 40
"""A frame sent this late after its deadline missed the receiver's cushion: our
test callers keep 40 ms; a receiver with a deeper one hears fewer gaps than this counts."""
"""Frames between playout confirmations (100 ms)."""


class OfferRejected(ValueError):
    """The offer cannot start a call: bad SDP, no audio, no common codec."""


class WebRtcTransport:
    kind = KIND
    native_audio = ""
    paced = True
    batch_ms = FRAME_MS  # the pacer takes one frame at a time

    def __init__(self, session: WebRtcSession) -> None:
        self.session = session

    async def send_audio(self, chunk: AudioChunk) -> None:
        self.session.pacer.push(chunk)

    async def send_mark(self, mark: Mark) -> None:
        """The pacer confirms playout itself; no marks on this wire."""

    async def send_clear(self, cleared: Cleared) -> None:
        # The far end's jitter buffer still plays what it holds; it cannot be recalled.
        self.session.track.flush(cleared.turn_id)
        self.session.send_json(
            {"type": "clear", "turn": cleared.turn_id, "heard_ms": cleared.heard_ms}
        )

    def send_event(self, event: CallEvent) -> None:
        self.session.send_json(event.to_dict())

    async def close(self, code: int, reason: str) -> None:
        await self.session.close()


class WebRtcSession:
    def __init__(self, session_id: str, ctx: GatewayContext) -> None:
        self.id = session_id
        self.ctx = ctx
        settings = ctx.settings
        self.pc = RTCPeerConnection(rtc_configuration(settings))
        cushion_ms = settings.window_ms(settings.webrtc_cushion_ms)
        self.flow = GrantTracker(CreditWindow(cushion_ms), ctx.clock, paced=True)
        self.pacer = Pacer(ctx.clock, cushion_ms, late_ms=LATE_AFTER_MS)
        self.track = PacedAudioTrack(self.pacer, self._on_emit, settings.webrtc_opus_complexity)
        self.playout_delay_s = settings.webrtc_playout_delay_ms / 1000
        self.network_delay_s = 0.0
        """Half the RTCP round trip: how long an emitted frame travels before the
        far end's jitter buffer holds it."""
        self.call: Call | None = None
        self.channel = None
        self._early: deque[str] = deque(maxlen=EARLY_EVENTS)
        self.ended = asyncio.Event()
        self.end_reason = "caller hung up"
        self._inbound: deque[bytes] = deque(maxlen=INBOUND_FRAMES)
        self._inbound_ready = asyncio.Event()
        # Mono at the pipeline's rate: libopus downmixes a browser's stereo and
        # decodes straight to 16 kHz, so no resampler follows.
        self._decoder = OpusDecoder(INTERNAL_RATE)
        self._pending_pcm = b""
        self.last_packet_at = time.monotonic()
        self._watchdog: asyncio.TimerHandle | None = None
        self._rtt_task: asyncio.Task | None = None
        self.inbound_dropped = 0
        self.jitter = None
        self._last_confirmed: tuple[int, int] | None = None
        self._closed = False
        self._connect_settled = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.resource = ""
        """The WHIP resource id: a capability handed only to the offerer."""
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("connectionstatechange", self._on_state)

    # ---- signalling ----------------------------------------------------

    async def answer(self, sdp: str, kind: str = "offer") -> str:
        try:
            offer = RTCSessionDescription(sdp=sdp, type=kind)
            await self.pc.setRemoteDescription(offer)
        except Exception as exc:  # aiortc raises ValueError, KeyError, … on hostile SDP
            raise OfferRejected(f"cannot use this offer: {exc}") from None
        audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not audio:
            raise OfferRejected("the offer has no audio")
        transceiver = audio[0]
        opus = [c for c in RTCRtpSender.getCapabilities("audio").codecs if c.name == "opus"]
        transceiver.setCodecPreferences(opus)
        transceiver.direction = "sendrecv"
        transceiver.sender.replaceTrack(self.track)
        self.jitter = tap_audio_receiver(transceiver.receiver, self._on_payload)
        try:
            await self.pc.setLocalDescription(await self.pc.createAnswer())
        except Exception as exc:
            raise OfferRejected(f"cannot answer this offer: {exc}") from None
        return self.pc.localDescription.sdp

    def _on_state(self) -> None:
        state = self.pc.connectionState
        if state in ("failed", "closed"):
            self.end(f"connection {state}")
        if state in ("connected", "failed", "closed"):
            self._connect_settled.set()

    async def wait_connected(self) -> bool:
        """Until ICE and DTLS completed (True), or the session failed or ended (False)."""
        await self._connect_settled.wait()
        return self.pc.connectionState == "connected" and not self.ended.is_set()

    def _on_datachannel(self, channel) -> None:
        self.channel = channel
        channel.on("message", self._on_channel_message)
        if channel.readyState == "open":
            self._send_early()
        else:
            channel.on("open", self._send_early)

    def _send_early(self) -> None:
        """What the call said before the channel opened (its first state, the
        greeting's words), delivered once, in order."""
        while self._early and self.channel is not None and self.channel.readyState == "open":
            self.channel.send(self._early.popleft())

    def _on_channel_message(self, message) -> None:
        if not isinstance(message, str) or len(message) > 4096:
            self.ctx.metrics.protocol_errors.labels(KIND, "oversized").inc()
            return
        try:
            data = json.loads(message)
        except (ValueError, RecursionError):
            self.ctx.metrics.protocol_errors.labels(KIND, "not_json").inc()
            return
        if not isinstance(data, dict):
            self.ctx.metrics.protocol_errors.labels(KIND, "malformed").inc()
            return
        if data.get("type") == "stats":
            # The browser's jitter buffer delay is most of the playout delay on a LAN.
            delay = data.get("jitter_buffer_ms")
            if isinstance(delay, int | float) and 0 <= delay < 2000:
                self.playout_delay_s = delay / 1000
        elif data.get("type") == "bye":
            self.end("caller hung up")

    def send_json(self, message: dict) -> None:
        text = json.dumps(message, separators=(",", ":"))
        channel = self.channel
        if channel is None or channel.readyState != "open":
            self._early.append(text)  # bounded: the oldest go first
            return
        self._send_early()
        if channel.bufferedAmount > DATA_CHANNEL_LIMIT:
            self.ctx.metrics.send_buffer_warnings.labels(KIND).inc()
            return  # events are advisory; audio never waits for them
        channel.send(text)

    # ---- media ---------------------------------------------------------

    def _on_payload(self, payload: bytes, _sequence: int) -> None:
        """A caller frame, in order, from the tapped receiver (on the event loop)."""
        self.last_packet_at = time.monotonic()
        try:
            pcm = self._pending_pcm + self._decoder.decode(payload)
        except OpusError:
            self.ctx.metrics.protocol_errors.labels(KIND, "bad_opus").inc()
            return
        whole = len(pcm) - len(pcm) % FRAME_BYTES
        self._pending_pcm = pcm[whole:]
        if whole:
            if len(self._inbound) == self._inbound.maxlen:
                self.inbound_dropped += 1
            self._inbound.append(pcm[:whole])
            self._inbound_ready.set()

    def _on_emit(self, chunk: AudioChunk | None) -> None:
        call = self.call
        if call is None:
            return
        if self.pacer.dry is not None:
            call.confirm(self.pacer.dry)
        if chunk is not None:
            call.confirm(RoomGranted(chunk.duration_ms, self.flow.epoch))
        if self.pacer.frames_emitted % CONFIRM_EVERY == 0:
            heard = self.pacer.heard_position(self.playout_delay_s + self.network_delay_s)
            if heard is not None and heard != self._last_confirmed:
                self._last_confirmed = heard
                call.confirm(PlayedTo(*heard))

    async def receive(self, call: Call) -> tuple[int, str]:
        """Feeds caller audio to the call until the peer goes away.

        One event wait per frame and nothing else: this runs 50 times a second
        per call, so the media timeout is a timer of its own, not a timeout on
        every wait."""
        self._watchdog = asyncio.get_running_loop().call_later(1.0, self._check_media)
        try:
            while not self.ended.is_set():
                while self._inbound:
                    await call.on_audio(self._inbound.popleft())
                self._inbound_ready.clear()
                if not self.ended.is_set():
                    await self._inbound_ready.wait()
            return 1000, self.end_reason
        finally:
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if self._rtt_task is not None:
                self._rtt_task.cancel()

    def _check_media(self) -> None:
        """Once a second: end a call whose peer sent nothing for the media
        timeout, and take the connection's latest RTCP round trip."""
        timeout = self.ctx.settings.webrtc_media_timeout_s
        if time.monotonic() - self.last_packet_at > timeout:
            log.info("no media for %g s", timeout)
            self.end("no media")
            return
        if self.ended.is_set():
            return
        loop = asyncio.get_running_loop()
        self._watchdog = loop.call_later(1.0, self._check_media)
        if self._rtt_task is None or self._rtt_task.done():
            self._rtt_task = loop.create_task(self._read_round_trip())

    async def _read_round_trip(self) -> None:
        senders = [t.sender for t in self.pc.getTransceivers() if t.kind == "audio"]
        if not senders:
            return
        try:
            report = await senders[0].getStats()
        except Exception:  # the connection closing under us; the next read will tell
            return
        for stats in report.values():
            rtt = getattr(stats, "roundTripTime", None)
            if stats.type == "remote-inbound-rtp" and rtt is not None and 0 <= rtt < 5:
                self.network_delay_s = rtt / 2

    def bind(self, call: Call) -> None:
        self.call = call

    async def run(self) -> None:
        await run_call(self.ctx, self.id, WebRtcTransport(self), self.flow, self.receive, self.bind)

    def end(self, reason: str) -> None:
        if not self.ended.is_set():
            self.end_reason = reason
            self.ended.set()
            self._inbound_ready.set()  # wakes the receive loop to see the end
            self._connect_settled.set()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.end(self.end_reason)
        self.track.stop()
        try:
            await self.pc.close()
        except Exception:
            # aiortc 1.16 fails half way through close() after some rejected
            # offers (a BUNDLE naming no section leaves transports unset); the
            # session is gone either way, and a hostile offer must stay a 400.
            log.info("peer connection did not close cleanly", exc_info=True)
