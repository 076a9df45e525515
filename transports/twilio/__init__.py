"""Twilio Media Streams: the bidirectional `<Connect><Stream>` WebSocket."""

from transports.media_stream.carrier import Carrier
from transports.twilio.protocol import TwilioDialect
from transports.twilio.webhook import ANSWER

CARRIER = Carrier(
    name="twilio",
    dialect=TwilioDialect,
    secret="twilio_auth_token",
    answer=ANSWER,
    settings_prefix="twilio",
    call_prefix="tw",
)
PACKAGE = CARRIER.package()
