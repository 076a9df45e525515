"""Exotel AgentStream: the Voicebot applet dials a fixed `wss://` URL that
carries `?token=`; marks as playout acknowledgements, `clear` for barge-in."""

from gateway.audio.wire_format import WireFormat
from transports.exotel.protocol import ExotelDialect
from transports.media_stream.carrier import Carrier
from transports.media_stream.events import Chunking

LEAST_BYTES = 3200
MOST_BYTES = 99_840  # the largest multiple of 320 within Exotel's 100 KB


def _exotel_sizes(wire: WireFormat) -> Chunking:
    return Chunking(least=LEAST_BYTES, most=MOST_BYTES, multiple=320)


CARRIER = Carrier(
    name="exotel",
    dialect=ExotelDialect,
    secret="exotel_stream_token",
    url_token=True,
    chunking=_exotel_sizes,
    least_mark_ms=200,  # 3.2 KB at 8 kHz: each mark follows a whole message
    token_scope="exotel",
    call_prefix="ex",
)
PACKAGE = CARRIER.package()
