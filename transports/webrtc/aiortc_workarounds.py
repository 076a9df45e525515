"""The two places Sluice works around aiortc/aioice internals. Both are here, and
nowhere else.

1. Host candidates. aioice gathers host candidates from every interface except
   127.0.0.1, with no setting to choose them. A gateway must advertise what the
   operator says (its public address in production, loopback in tests), so
   `advertise_host_addresses` replaces aioice's module-level
   `get_host_addresses`. It can go when aioice accepts a list of addresses
   (check `aioice.ice.Connection.__init__` for such a parameter).

2. The receive jitter buffer. aiortc's audio JitterBuffer(capacity=16,
   prefetch=4) holds every frame until four more follow it and, after one lost
   packet, stays about 14 frames deep for good (aiortc issue 543). For speech
   recognition neither is wanted, so `tap_audio_receiver` swaps the receiver's
   buffer for one that hands every ready Opus frame to Sluice at once (see
   gateway/flow/jitter.py). It reaches into the private
   `_RTCRtpReceiver__jitter_buffer`; it can go when aiortc lets a receiver take
   a jitter buffer, or fixes issue 543 and exposes the prefetch depth.
"""

from __future__ import annotations

from collections.abc import Callable

import aioice.ice
from aiortc import RTCRtpReceiver

from gateway.flow.jitter import AudioJitterBuffer

_original_get_host_addresses = aioice.ice.get_host_addresses
_JITTER_ATTRIBUTE = "_RTCRtpReceiver__jitter_buffer"


def advertise_host_addresses(addresses: list[str]) -> None:
    """Host candidates come from `addresses` only; an empty list restores aioice's own choice."""
    if not addresses:
        aioice.ice.get_host_addresses = _original_get_host_addresses
        return
    chosen = list(addresses)

    def get_host_addresses(use_ipv4: bool, use_ipv6: bool) -> list[str]:
        return [a for a in chosen if (":" in a and use_ipv6) or (":" not in a and use_ipv4)]

    aioice.ice.get_host_addresses = get_host_addresses


class _TapJitterBuffer:
    """Stands where aiortc's receiver expects its jitter buffer (same `add`)."""

    def __init__(self, on_payload: Callable[[bytes, int], None]) -> None:
        self.buffer = AudioJitterBuffer()
        self._on_payload = on_payload

    def add(self, packet) -> tuple[bool, None]:
        for ready in self.buffer.add(packet.sequence_number, packet._data):
            self._on_payload(ready.payload, ready.sequence)
        # aiortc's decoder thread gets nothing: its unbounded queue stays empty.
        return False, None


def tap_audio_receiver(
    receiver: RTCRtpReceiver, on_payload: Callable[[bytes, int], None]
) -> AudioJitterBuffer:
    """`on_payload(opus_frame, rtp_sequence_number)` gets every frame, in order."""
    if not hasattr(receiver, _JITTER_ATTRIBUTE):
        raise RuntimeError(
            "aiortc's RTCRtpReceiver no longer has a jitter buffer attribute; "
            "revisit transports/webrtc/aiortc_workarounds.py"
        )
    tap = _TapJitterBuffer(on_payload)
    setattr(receiver, _JITTER_ATTRIBUTE, tap)
    return tap.buffer
