"""Telnyx: TeXML `<Connect><Stream bidirectionalMode="rtp">`, marks as playout
acknowledgements, `clear` for barge-in."""

from gateway.runtime.context import GatewayContext
from transports.media_stream.carrier import Carrier
from transports.telnyx.answer import ANSWER
from transports.telnyx.protocol import TelnyxDialect
from transports.telnyx.rest import TelnyxApi


def rest_api(ctx: GatewayContext) -> TelnyxApi | None:
    s = ctx.settings
    if not (s.telnyx_api_key and s.telnyx_texml_app_id and s.telnyx_account_sid):
        return None
    return TelnyxApi(ctx.http(), s.telnyx_api_base_url, s.telnyx_api_key, s.telnyx_texml_app_id,
                     s.telnyx_account_sid)  # fmt: skip


CARRIER = Carrier(
    name="telnyx",
    dialect=TelnyxDialect,
    secret="telnyx_public_key",
    answer=ANSWER,
    token_scope="telnyx",
    call_prefix="tx",
    api=rest_api,
)
PACKAGE = CARRIER.package()
