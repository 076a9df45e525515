"""Twilio Media Streams: the bidirectional `<Connect><Stream>` WebSocket."""

from transports.packages import TransportPackage


def _router():  # imported late: the routes import the call, which imports the seam
    from transports.twilio.routes import router

    return router()


PACKAGE = TransportPackage("twilio", _router)
