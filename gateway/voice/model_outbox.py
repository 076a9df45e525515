"""A speech-to-speech voice's socket to its model: opening it, and what waits
to be sent on it (control events in order, and caller audio, both bounded).

Control events are never dropped: losing a cancel or a request would leave
the session stuck, so an outbox that overflows fails the voice instead (the
caller hears the apology). Caller audio is dropped oldest first: a slow model
socket costs the model some of the caller's past, never the gateway memory.
The deques outlive one socket, so what is queued while a voice reconnects is
sent on the new one.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus

from gateway.observe.metrics import GatewayMetrics

MAX_MESSAGE_BYTES = 1 << 20
"""Past this the socket itself refuses the frame (1009) before reading it whole."""


class ModelConnectionLost(Exception):
    """The voice's model connection failed or ended: the call hears the apology."""


class ModelSocketStuck(ModelConnectionLost):
    """The outbox overflowed: the model's socket stopped taking what is sent."""


async def open_socket(
    url: str,
    headers: dict[str, str],
    timeout_s: float,
    metrics: GatewayMetrics,
    voice: str,
) -> ClientConnection:
    """The model's socket, or ModelConnectionLost (counted as connect_failed)."""
    try:
        return await connect(
            url,
            additional_headers=headers,
            open_timeout=timeout_s,
            max_size=MAX_MESSAGE_BYTES,
            max_queue=64,
            close_timeout=1,  # a hung-up call must not wait on the model's goodbye
        )
    except InvalidStatus as exc:
        metrics.voice_problems.labels(voice, "connect_failed").inc()
        raise ModelConnectionLost(f"the model refused the connection: {exc}") from exc
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        metrics.voice_problems.labels(voice, "connect_failed").inc()
        raise ModelConnectionLost(f"cannot reach the model: {exc}") from exc


class Outbox:
    def __init__(self, control_limit: int, audio_limit: int) -> None:
        self._control: deque[dict[str, Any]] = deque(maxlen=control_limit)
        self._audio: deque[bytes] = deque(maxlen=audio_limit)
        self._wake = asyncio.Event()
        self._overflowed = False

    def send(self, event: dict[str, Any]) -> None:
        if len(self._control) == self._control.maxlen:
            self._overflowed = True
        else:
            self._control.append(event)
        self._wake.set()

    def clear(self) -> None:
        """Forget what waits: it was meant for a socket that is gone."""
        self._control.clear()
        self._audio.clear()

    def send_audio(self, audio: bytes) -> None:
        self._audio.append(audio)
        self._wake.set()

    async def drain(
        self, ws: ClientConnection, audio_event: Callable[[bytes], dict[str, Any]]
    ) -> None:
        """Write to `ws` until cancelled: control first, then audio."""
        while True:
            if self._overflowed:
                raise ModelSocketStuck("the model socket stopped draining")
            while self._control or self._audio:
                if self._control:
                    await ws.send(json.dumps(self._control.popleft()))
                else:
                    await ws.send(json.dumps(audio_event(self._audio.popleft())))
            self._wake.clear()
            await self._wake.wait()
