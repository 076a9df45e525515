"""Plivo: `<Stream bidirectional="true">`, checkpoints acknowledged by
`playedStream`, `clearAudio` for barge-in."""

from gateway.runtime.context import GatewayContext
from transports.media_stream.carrier import Carrier
from transports.plivo.answer import ANSWER
from transports.plivo.protocol import PlivoDialect
from transports.plivo.rest import PlivoApi
from transports.plivo.transfer import mount_transfer


def rest_api(ctx: GatewayContext) -> PlivoApi | None:
    s = ctx.settings
    if not (s.plivo_auth_id and s.plivo_auth_token and s.public_url):
        return None  # a transfer points Plivo at a URL of ours: it needs public_url
    return PlivoApi(ctx.http(), s.plivo_api_base_url, s.plivo_auth_id, s.plivo_auth_token,
                    s.public_url)  # fmt: skip


CARRIER = Carrier(
    name="plivo",
    dialect=PlivoDialect,
    secret="plivo_auth_token",
    answer=ANSWER,
    token_scope="plivo",
    call_prefix="pl",
    api=rest_api,
    routes=mount_transfer,
)
PACKAGE = CARRIER.package()
