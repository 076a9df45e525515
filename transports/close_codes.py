"""WebSocket close codes the adapters use (RFC 6455, section 7.4.1)."""

NORMAL = 1000
UNSUPPORTED = 1003
INVALID = 1007
POLICY = 1008
TOO_BIG = 1009
INTERNAL = 1011
SERVICE_RESTART = 1012
TRY_LATER = 1013

FOR_END_REASON = {
    "playout stalled": POLICY,
    "internal error": INTERNAL,
    "peer not reading": POLICY,
    "gateway stopping": SERVICE_RESTART,
}
"""How a call that ends itself closes its connection."""


def disconnect_reason(code: int | None) -> str:
    """Why a connection that closed under a call ended it. An ASGI server that
    is shutting down closes every WebSocket with 1012 (service restart): that
    is the gateway stopping, not the caller hanging up."""
    return "gateway stopping" if code == SERVICE_RESTART else "caller hung up"
