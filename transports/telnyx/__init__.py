"""Telnyx: TeXML `<Connect><Stream bidirectionalMode="rtp">`, marks as playout
acknowledgements, `clear` for barge-in."""

from transports.media_stream.carrier import Carrier
from transports.telnyx.answer import ANSWER
from transports.telnyx.protocol import TelnyxDialect

CARRIER = Carrier(
    name="telnyx",
    dialect=TelnyxDialect,
    secret="telnyx_public_key",
    answer=ANSWER,
    token_scope="telnyx",
    call_prefix="tx",
)
PACKAGE = CARRIER.package()
