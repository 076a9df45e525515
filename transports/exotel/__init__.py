"""Exotel AgentStream: the Voicebot applet dials a fixed `wss://` URL that
carries `?token=`; marks as playout acknowledgements, `clear` for barge-in."""

from transports.exotel.protocol import ExotelDialect
from transports.media_stream.carrier import Carrier
from transports.media_stream.events import Chunking, Started

LEAST_BYTES = 3200
MOST_BYTES = 99_840  # the largest multiple of 320 within Exotel's 100 KB


def _exotel_sizes(start: Started) -> Chunking:
    # Marks are spaced by whole 3.2 KB messages (see Chunking.mark_interval_ms).
    return Chunking(least=LEAST_BYTES, most=MOST_BYTES, multiple=320)


CARRIER = Carrier(
    name="exotel",
    dialect=ExotelDialect,
    secret="exotel_stream_token",
    url_token=True,
    chunking=_exotel_sizes,
    token_scope="exotel",
    call_prefix="ex",
)
PACKAGE = CARRIER.package()
