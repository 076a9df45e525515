"""A WebRTC caller built on aiortc, for tests and benchmarks.

It sends a microphone track in real time and plays what it receives in real
time, the way a browser does on a clean path: frames leave its jitter buffer in
order as soon as they arrive (the same low-latency buffer the gateway uses),
and playout starts two frames behind, about the 30 to 50 ms a browser's
jitter buffer holds on loopback. The gateway's audio carries no turn ids over RTP, so frames are
attributed by loudness: a played frame is voiced when its peak passes a
threshold. Between an interrupt and the next reply the only voiced audio the
gateway can send is the interrupted turn's, which is what stale audio needs.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from gateway.audio.frames import INTERNAL_RATE
from gateway.audio.opus import OpusDecoder
from gateway.testing.microphone import Microphone, SpeaksThroughMicrophone
from gateway.testing.playout import Listener, PlayedFrame, PlayoutLog, Received
from gateway.testing.realtime_caller import FRAME_S
from transports.webrtc.aiortc_workarounds import tap_audio_receiver
from transports.webrtc.track import opus_encoder, rtp_packet

VOICED_PEAK = 500


class _MicTrack(MediaStreamTrack):
    """The caller's microphone, paced in real time and encoded like the gateway's
    own track (Opus from 16 kHz, libopus called directly), so that many callers
    fit in one process."""

    kind = "audio"

    def __init__(self, caller: WebRtcCaller) -> None:
        super().__init__()
        self.caller = caller
        self._start: float | None = None
        self._n = 0
        self._encoder = opus_encoder(complexity=0)  # a test microphone: cost over quality

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._n * FRAME_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = rtp_packet(self._encoder.encode(self.caller.mic.next_frame().tobytes()), self._n)
        self._n += 1
        return packet


class WebRtcCaller(SpeaksThroughMicrophone):
    def __init__(
        self,
        base_url: str,
        *,
        playout_delay_frames: int = 2,
        noise_dbfs: float | None = None,
        listener: Listener | None = None,
        rewrite_answer=None,
        rewrite_offer=None,
        token: str = "",
        configuration: RTCConfiguration | None = None,
    ) -> None:
        """`rewrite_answer(sdp) -> sdp` and `rewrite_offer` let a comparison run
        send the media path through relays by pointing each side's candidates
        at one. `configuration`: ICE servers and policy (default: host candidates
        only, no STUN)."""
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.log = PlayoutLog()
        self.events: list[dict] = []
        self.resource: str | None = None
        self.call_id: str | None = None
        self.playout_delay_frames = playout_delay_frames
        self.listener = listener or Listener()
        self.rewrite_answer = rewrite_answer
        self.rewrite_offer = rewrite_offer
        self.mic = Microphone(noise_dbfs, seed=11)
        self._decoder = OpusDecoder(INTERNAL_RATE)
        self._queue: deque[np.ndarray] = deque(maxlen=500)
        self._arrived = asyncio.Event()
        self._last_arrival: float | None = None
        self.dropped = 0
        self.arrivals: deque[tuple[float, int]] = deque(maxlen=30_000)
        """(arrival instant, frame index from the RTP sequence) of every received frame."""
        self._last_sequence: int | None = None
        self._frame_index = 0
        self._pc = RTCPeerConnection(configuration or RTCConfiguration(iceServers=[]))
        self._channel = self._pc.createDataChannel("sluice")
        self._channel.on("message", lambda m: self.events.append(json.loads(m)))
        self._pc.addTrack(_MicTrack(self))
        self._tasks: list[asyncio.Task] = []
        self.received_frames = 0
        self.max_gap_ms = 0.0

    async def __aenter__(self) -> WebRtcCaller:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.hang_up()

    async def connect(self) -> None:
        await self._pc.setLocalDescription(await self._pc.createOffer())
        offer = self._pc.localDescription.sdp
        if self.rewrite_offer is not None:
            offer = await self.rewrite_offer(offer)
        async with httpx.AsyncClient() as http:
            response = await http.post(
                self.base_url + "/webrtc/offer",
                json={"sdp": offer, "type": "offer"},
                headers=self.headers,
            )
        response.raise_for_status()
        answer = response.json()
        self.resource = answer["resource"]
        self.call_id = answer["id"]
        sdp = answer["sdp"]
        if self.rewrite_answer is not None:
            sdp = await self.rewrite_answer(sdp)
        await self._pc.setRemoteDescription(RTCSessionDescription(sdp, "answer"))
        receiver = self._pc.getTransceivers()[0].receiver
        tap_audio_receiver(receiver, self._on_payload)
        self._tasks.append(asyncio.create_task(self._play()))

    def _on_payload(self, payload: bytes, sequence: int) -> None:
        now = time.monotonic()
        if self._last_sequence is not None:
            self._frame_index += (sequence - self._last_sequence) & 0xFFFF
        self._last_sequence = sequence
        if self._last_arrival is not None:
            self.max_gap_ms = max(self.max_gap_ms, (now - self._last_arrival) * 1000)
        self._last_arrival = now
        self.arrivals.append((now, self._frame_index))
        self.received_frames += 1
        pcm = self._decoder.decode(payload)
        if len(self._queue) == self._queue.maxlen:
            self.dropped += 1
        self._queue.append(np.frombuffer(pcm, dtype=np.int16))
        self._arrived.set()

    async def _play(self) -> None:
        """Play one 20 ms frame per tick, starting a small cushion after the first arrival."""
        await self._arrived.wait()
        await asyncio.sleep(self.playout_delay_frames * FRAME_S)
        start = time.monotonic()
        tick = self.listener.tick_s
        n = 0
        while True:
            at = start + n * tick
            if self.listener.stalled(at - start):
                self.log.add(PlayedFrame(at, 20, None), len(self._queue) * 20.0)
            elif self._queue:
                samples = self._queue.popleft()
                voiced = samples.size and int(np.abs(samples.astype(np.int32)).max()) > VOICED_PEAK
                self.log.add(
                    PlayedFrame(at, 20, Received(1) if voiced else None), len(self._queue) * 20.0
                )
            else:
                self.log.add(PlayedFrame(at, 20, None), 0.0)
            n += 1
            await asyncio.sleep(max(0.0, start + n * tick - time.monotonic()))

    @property
    def connected(self) -> bool:
        return self._pc.connectionState == "connected"

    def frame_delays_ms(self, since: float = 0.0) -> np.ndarray:
        """Each frame's lateness against a perfect 20 ms clock anchored on the
        earliest frame: 0 for the best-timed frame, larger for later ones."""
        kept = [(t, i) for t, i in self.arrivals if t >= since]
        if not kept:
            return np.zeros(0)
        times = np.array([t for t, _ in kept])
        index = np.array([i for _, i in kept])
        # Indexed by RTP sequence: a lost frame must not make every later one look late.
        drift = times - index * FRAME_S
        return (drift - drift.min()) * 1000

    def late_frames(self, since: float = 0.0) -> int:
        """Frames that arrived after their slot in the playout cushion: underruns,
        since RTP carries no turn ids to tell pauses between words from gaps."""
        return int((self.frame_delays_ms(since) > self.playout_delay_frames * 20).sum())

    def late_runs(self, since: float = 0.0) -> int:
        """Runs of consecutive late frames: one gap each, however many frames it held."""
        late = np.r_[False, self.frame_delays_ms(since) > self.playout_delay_frames * 20]
        return int(np.count_nonzero(late[1:] & ~late[:-1]))

    def voiced_after(self, instant: float) -> float:
        """Voiced milliseconds played after `instant` (the gateway's interrupt instant)."""
        return self.log.stale_ms(1, instant)

    def last_voiced_end(self) -> float | None:
        return self.log.last_played_end(1)

    async def hang_up(self, delete: bool = True) -> None:
        if delete and self.resource:
            async with httpx.AsyncClient() as http:
                await http.delete(self.base_url + self.resource, headers=self.headers)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._pc.close()
