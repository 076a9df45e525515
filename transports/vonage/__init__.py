"""Vonage: an NCCO `connect` to a `websocket` endpoint, binary 16-bit PCM in
exact 20 ms frames, notifies as playout acknowledgements, `clear` for barge-in."""

from transports.media_stream.carrier import Carrier
from transports.media_stream.events import Chunking, Started
from transports.vonage.answer import ANSWER
from transports.vonage.protocol import VonageDialect


def _frames(start: Started) -> Chunking:
    return Chunking(exact=start.wire.frame_bytes)  # Vonage takes exactly one 20 ms frame a message


CARRIER = Carrier(
    name="vonage",
    dialect=VonageDialect,
    secret="vonage_signature_secret",
    answer=ANSWER,
    chunking=_frames,
    token_scope="vonage",
    call_prefix="vg",
)
PACKAGE = CARRIER.package()
