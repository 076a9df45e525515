"""A media socket's messages handed straight to the call, not through ASGI.

Through ASGI each message is a dict on a queue, a future woken and a task
stepped through several awaits before the call sees it: at fifty messages a
second a call, about 5 % of the gateway's CPU (docs/explanation/performance.md).
The server's WebSocket protocol (gateway/server/ws_protocol.py) offers the
`DIRECT` extension in the scope; a receive loop that attaches to it gets each
message as it is parsed, on the same turn of the event loop. The handler is
plain synchronous code, so a message is handled whole before the next is read,
in order. Disconnects still arrive through ASGI's receive. Under another ASGI
server there is no extension and every message goes through ASGI as before.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable
from typing import Any

from starlette.websockets import WebSocket

from transports import close_codes

DIRECT = "sluice.direct"
"""The scope extension: {"attach": f(receiver), "detach": f()}."""

Ending = tuple[int, str]
"""How a receive loop ends: a close code and its reason."""

Handler = Callable[[str | bytes], Ending | None]


def direct_of(ws: WebSocket) -> dict[str, Any] | None:
    """The hand-over the server offers on this socket, if any (a test client's has none)."""
    return (ws.scope.get("extensions") or {}).get(DIRECT)


def asgi_data(message: dict[str, Any]) -> str | bytes:
    """An ASGI receive event's text, or else its bytes: what a receiver is given."""
    text = message.get("text")
    return text if text is not None else message.get("bytes") or b""


async def receive_directly(ws: WebSocket, direct: dict[str, Any], handle: Handler) -> Ending:
    """Runs until `handle` returns an ending, raises, or the peer disconnects."""
    ended: asyncio.Future[Ending] = asyncio.get_running_loop().create_future()
    # The protocol calls back in the server's context: the handler runs in the
    # call's, so its log lines still name the call (gateway/observe/logs.py).
    context = contextvars.copy_context()

    def receive(message: str | bytes) -> None:
        if ended.done():
            return  # the loop is ending: nothing more is the call's
        try:
            outcome = context.run(handle, message)
        except Exception as exc:  # the call's failure, raised in its own task
            ended.set_exception(exc)
            return
        if outcome is not None:
            ended.set_result(outcome)

    direct["attach"](receive)
    try:
        while True:
            gone = asyncio.ensure_future(ws.receive())
            try:
                await asyncio.wait({ended, gone}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not gone.done():
                    gone.cancel()
                    await asyncio.gather(gone, return_exceptions=True)
            if ended.done():
                return ended.result()
            message = gone.result()
            if message["type"] == "websocket.disconnect":
                return close_codes.NORMAL, close_codes.disconnect_reason(message.get("code"))
            # A message queued before the hand-over was attached.
            outcome = handle(asgi_data(message))
            if outcome is not None:
                return outcome
    finally:
        direct["detach"]()
