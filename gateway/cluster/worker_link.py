"""How the workers of one supervisor talk to each other, and who else may not.

Each worker also listens on a private loopback port so that the others can
forward a hang-up or a record lookup to the worker holding the call. Any local
process can reach loopback, so the private port serves only those internal
requests, and only with the secret the supervisor handed its workers.
"""

from __future__ import annotations

import hmac

from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

FORWARDED = "x-sluice-forwarded"
SECRET_HEADER = "x-sluice-worker-secret"
_INTERNAL = (("GET", "/calls"), ("DELETE", "/webrtc/whip/"))
_OPEN = ("/metrics", "/healthz")
"""Scrapes of one worker on its own need no secret: they read, and reveal no call."""


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return ""


class PrivatePortGuard:
    """ASGI middleware: on the private port, scrapes, and internal requests with the secret."""

    def __init__(self, app: ASGIApp, private_port: int | None, secret: str) -> None:
        self.app = app
        self.private_port = private_port
        self.secret = secret

    @property
    def state(self):  # noqa: ANN201 - the wrapped app's state, for tests and the CLI
        return self.app.state  # type: ignore[attr-defined]

    def _trusted(self, scope: Scope) -> bool:
        given = _header(scope, SECRET_HEADER.encode())
        return bool(self.secret) and hmac.compare_digest(given.encode(), self.secret.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        trusted = self._trusted(scope)
        if not trusted and _header(scope, FORWARDED.encode()):
            # Only a worker may say a request was forwarded (it suppresses fan-out).
            scope = {**scope, "headers": [(k, v) for k, v in scope["headers"]
                                          if k != FORWARDED.encode()]}  # fmt: skip
        server = scope.get("server")
        on_private = self.private_port is not None and server and server[1] == self.private_port
        if on_private:
            method = scope.get("method", "GET")
            path = scope.get("path", "")
            internal = scope["type"] == "http" and any(
                method == m and path.startswith(p) for m, p in _INTERNAL
            )
            scrape = scope["type"] == "http" and method == "GET" and path in _OPEN
            if not (scrape or (trusted and internal)):
                if scope["type"] == "websocket":
                    await send({"type": "websocket.close", "code": 1008})
                    return
                await PlainTextResponse("not found", status_code=404)(scope, receive, send)
                return
        await self.app(scope, receive, send)
