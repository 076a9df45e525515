"""WebRTC (aiortc): a paced, bounded output track and a low-latency inbound path."""

from __future__ import annotations

from typing import TYPE_CHECKING

from transports.packages import TransportPackage

if TYPE_CHECKING:
    from gateway.runtime.context import GatewayContext


def _router():  # imported late: the routes import the call, which imports the seam
    from transports.webrtc.signalling import router

    return router()


def _start(ctx: GatewayContext) -> None:
    from transports.webrtc.aiortc_workarounds import advertise_host_addresses
    from transports.webrtc.ice_servers import host_addresses

    advertise_host_addresses(host_addresses(ctx.settings))


async def _stop(ctx: GatewayContext) -> None:
    from transports.webrtc.signalling import end_sessions

    await end_sessions(ctx)


PACKAGE = TransportPackage("webrtc", _router, _start, _stop)
