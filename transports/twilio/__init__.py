"""Twilio Media Streams: the bidirectional `<Connect><Stream>` WebSocket."""

from gateway.runtime.context import GatewayContext
from transports.media_stream.carrier import Carrier
from transports.twilio.protocol import TwilioDialect
from transports.twilio.rest import TwilioApi
from transports.twilio.webhook import ANSWER


def rest_api(ctx: GatewayContext) -> TwilioApi | None:
    s = ctx.settings
    if not (s.twilio_account_sid and s.twilio_auth_token):
        return None
    return TwilioApi(ctx.http(), s.twilio_api_base_url, s.twilio_account_sid, s.twilio_auth_token)


CARRIER = Carrier(
    name="twilio",
    dialect=TwilioDialect,
    secret="twilio_auth_token",
    answer=ANSWER,
    settings_prefix="twilio",
    call_prefix="tw",
    api=rest_api,
)
PACKAGE = CARRIER.package()
