"""Asterisk `chan_websocket` (20.18, 22.8, 23.2 and later): Asterisk dials a
fixed URL carrying `?token=`; `MARK_MEDIA` acknowledgements, the XOFF/XON
queue watermarks, `FLUSH_MEDIA` for barge-in."""

from transports.asterisk.protocol import MAX_FRAME_BYTES, AsteriskDialect
from transports.media_stream.carrier import Carrier
from transports.media_stream.events import Chunking, Started


def _whole_frames(start: Started) -> Chunking:
    # Asterisk cuts what it gets into its own frames and drops a remainder:
    # send whole frames of the size MEDIA_START named, and never a message
    # that would hang the call up.
    frame = start.frame_bytes or start.wire.frame_bytes
    return Chunking(least=frame, most=MAX_FRAME_BYTES - MAX_FRAME_BYTES % frame, multiple=frame)


CARRIER = Carrier(
    name="asterisk",
    dialect=AsteriskDialect,
    secret="asterisk_token",
    url_token=True,
    chunking=_whole_frames,
    # 800 frames: the XON level. Marks return credit as the queue plays, so the
    # queue stays below the XOFF level (900) and far below the 1,000 where
    # Asterisk drops audio; XOFF/XON are honoured besides, as a backstop.
    buffer_ms=16_000,
    token_scope="asterisk",
    call_prefix="ak",
)
PACKAGE = CARRIER.package()
