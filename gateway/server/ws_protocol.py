"""uvicorn's WebSocket protocol (websockets, sans-I/O), reading ahead a little.

uvicorn stops reading a socket after every message it queues for the app and
starts again when the app takes it: two epoll changes per message. A media
stream sends fifty messages a second, so at a hundred calls that was ten
thousand system calls a second, about 6 % of the gateway's CPU in a profile
(docs/explanation/performance.md). This protocol lets up to `UNREAD` messages
wait before it asks to stop reading, as uvicorn's does after one.

What bounds a caller's inbound audio is not this: every receive loop reads
as fast as messages come, and the call's inbound budget drops a flood
(gateway/flow/inbound.py).
"""

from __future__ import annotations

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

UNREAD = 8
"""Messages queued for the app before reading stops (each at most ws_max_size)."""


class ReadAheadProtocol(WebSocketsSansIOProtocol):
    def send_receive_event_to_app(self) -> None:
        if self.read_paused or self.queue.qsize() + 1 >= UNREAD:
            super().send_receive_event_to_app()  # queues it and stops reading
            return
        # The parent stops reading unless reading is already stopped: for this
        # one message, say it is, so it only queues the message.
        self.read_paused = True
        try:
            super().send_receive_event_to_app()
        finally:
            self.read_paused = False
