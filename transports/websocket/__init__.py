"""The browser WebSocket protocol (sluice.browser v1): credit grants and played acks."""

from transports.packages import TransportPackage


def _router():  # imported late: the routes import the call, which imports the seam
    from transports.websocket.routes import router

    return router()


PACKAGE = TransportPackage("websocket", _router)
