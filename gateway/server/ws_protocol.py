"""uvicorn's WebSocket protocol (websockets, sans-I/O), reading ahead a little,
and handing a media stream's messages straight to it.

Reading ahead: uvicorn stops reading a socket after every message it queues
for the app and starts again when the app takes it: two epoll changes per
message. A media stream sends fifty messages a second, so at a hundred calls
that was ten thousand system calls a second, about 6 % of the gateway's CPU in
a profile (docs/explanation/performance.md). This protocol lets up to `UNREAD`
messages wait before it asks to stop reading, as uvicorn's does after one.

Handing over: through ASGI, every message is a dict put on a queue, a future
woken, and a task stepped through four awaits before the call sees it. A
media stream's receive loop does nothing between messages that needs a task,
so once the call runs it may `attach` a receiver (the `DIRECT` extension in the
scope) and each message is handed to it as it is parsed, on the same turn of
the loop. Connect, disconnect and close still go through ASGI.

What bounds a caller's inbound audio is not this: every receive loop reads
as fast as messages come, and the call's inbound budget drops a flood
(gateway/flow/inbound.py).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from transports.direct import DIRECT, asgi_data

UNREAD = 8
"""Messages queued for the app before reading stops (each at most ws_max_size)."""

Receiver = Callable[[str | bytes], None]


class ReadAheadProtocol(WebSocketsSansIOProtocol):
    _receiver: Receiver | None = None
    handed_over = 0
    """Messages handed straight to a receiver, in this process (tests read it)."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # not refused in the handshake: the app's task has not run yet
            scope["extensions"][DIRECT] = {"attach": self._attach, "detach": self._detach}

    def _attach(self, receiver: Receiver) -> None:
        """From now on each message goes to `receiver`; those already queued go first."""
        held = []
        while not self.queue.empty():
            held.append(self.queue.get_nowait())
        for message in held:
            if message["type"] == "websocket.receive":
                receiver(asgi_data(message))
            else:  # a disconnect stays for the app's own receive
                self.queue.put_nowait(message)
        self._receiver = receiver
        if self.read_paused:
            self.read_paused = False
            self.transport.resume_reading()

    def _detach(self) -> None:
        self._receiver = None

    def send_receive_event_to_app(self) -> None:
        receiver = self._receiver
        if receiver is not None and not self.close_sent:
            data = self.frames[0] if len(self.frames) == 1 else b"".join(self.frames)
            if self.curr_msg_data_type == "text":
                try:
                    message: str | bytes = bytes(data).decode()
                except UnicodeDecodeError:
                    super().send_receive_event_to_app()  # uvicorn closes with 1007
                    return
            else:
                message = bytes(data)
            self.frames = []
            ReadAheadProtocol.handed_over += 1
            receiver(message)
            return
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
