"""SignalWire: cXML (TwiML's twin) answers, and Twilio's Media Streams protocol
on the wire, so only the signature header and the signing key differ."""

from transports.media_stream.answer import Answer
from transports.media_stream.carrier import Carrier
from transports.twilio.protocol import TwilioDialect
from transports.twilio.webhook import REJECT, REJECT_BUSY, connect_stream, signed_by

CARRIER = Carrier(
    name="signalwire",
    dialect=TwilioDialect,
    secret="signalwire_signing_key",
    # cXML form webhooks: Twilio's HMAC-SHA1 scheme keyed by the Signing Key;
    # SignalWire also sends the Twilio header name as an alias.
    answer=Answer(
        verify=signed_by("x-signalwire-signature", "x-twilio-signature"),
        markup=connect_stream,
        busy=REJECT_BUSY,
        refused=REJECT,
        call_id="CallSid",
    ),
    token_scope="signalwire",
    call_prefix="sw",
)
PACKAGE = CARRIER.package()
