"""Vonage: an NCCO `connect` to a `websocket` endpoint, binary 16-bit PCM in
exact 20 ms frames, notifies as playout acknowledgements, `clear` for barge-in."""

from gateway.runtime.context import GatewayContext
from transports.media_stream.carrier import Carrier
from transports.media_stream.events import Chunking, Started
from transports.vonage.answer import ANSWER
from transports.vonage.protocol import VonageDialect
from transports.vonage.rest import VonageApi


def rest_api(ctx: GatewayContext) -> VonageApi | None:
    s = ctx.settings
    if not (s.vonage_application_id and s.vonage_private_key):
        return None
    return VonageApi(ctx.http(), s.vonage_api_base_url, s.vonage_application_id,
                     s.vonage_private_key)  # fmt: skip


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
    api=rest_api,
)
PACKAGE = CARRIER.package()
