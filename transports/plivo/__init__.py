"""Plivo: `<Stream bidirectional="true">`, checkpoints acknowledged by
`playedStream`, `clearAudio` for barge-in."""

from transports.media_stream.carrier import Carrier
from transports.plivo.answer import ANSWER
from transports.plivo.protocol import PlivoDialect

CARRIER = Carrier(
    name="plivo",
    dialect=PlivoDialect,
    secret="plivo_auth_token",
    answer=ANSWER,
    token_scope="plivo",
    call_prefix="pl",
)
PACKAGE = CARRIER.package()
