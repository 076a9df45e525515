"""SignalWire: cXML (TwiML's twin) answers, and Twilio's Media Streams protocol
on the wire, so only the signature header and the signing key differ."""

from gateway.runtime.context import GatewayContext
from transports.media_stream.answer import Answer
from transports.media_stream.carrier import Carrier
from transports.twilio.protocol import TwilioDialect
from transports.twilio.rest import TwilioApi
from transports.twilio.webhook import REJECT, REJECT_BUSY, connect_stream, signed_by


def rest_api(ctx: GatewayContext) -> TwilioApi | None:
    """SignalWire's Compatibility API: Twilio's, under /api/laml, in your space."""
    s = ctx.settings
    if not (s.signalwire_project_id and s.signalwire_api_token and s.signalwire_api_base_url):
        return None
    return TwilioApi(ctx.http(), s.signalwire_api_base_url, s.signalwire_project_id,
                     s.signalwire_api_token, "signalwire", "/api/laml/2010-04-01")  # fmt: skip


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
    api=rest_api,
)
PACKAGE = CARRIER.package()
