"""Graceful drain on SIGTERM, as a rolling update needs: the node stops taking
calls (`/readyz` answers 503, new calls are refused), live calls go on until
they end or `drain_timeout_s` passes, then the process exits. A second signal
exits at once."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)

POLL_S = 0.2
STOPPING_GRACE_S = 2.0
"""At shutdown, how long calls get to tell their callers why they end."""
STOPPING = "gateway stopping"


async def end_calls(ctx, reason: str = STOPPING, grace_s: float = STOPPING_GRACE_S) -> None:  # noqa: ANN001
    """Ends every live call with `reason` and waits (a little) for them to go:
    each tells its caller why (a `call_ended` event where the wire has events,
    then a close with 1012) before the server drops the connections."""
    calls = list(ctx.calls.values())
    for call in calls:
        call.end(reason)
    deadline = time.monotonic() + grace_s
    while ctx.calls and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, drain_timeout_s: float) -> None:
        super().__init__(config)
        self.drain_timeout_s = drain_timeout_s
        self._drain: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets=None) -> None:  # noqa: ANN001 - uvicorn's signature
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets=sockets)

    async def shutdown(self, sockets=None) -> None:  # noqa: ANN001 - uvicorn's signature
        # Before uvicorn drops the connections: the callers hear why the call ends.
        ctx = _context(self.config.loaded_app if self.config.loaded else None)
        if ctx is not None and ctx.calls:
            log.warning("stopping: ending %d live calls", len(ctx.calls))
            await end_calls(ctx)
        await super().shutdown(sockets=sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        ctx = _context(self.config.loaded_app if self.config.loaded else None)
        if sig != signal.SIGTERM or self._drain is not None or ctx is None or not self._loop:
            super().handle_exit(sig, frame)
            return
        ctx.slots.draining = True
        log.warning(
            "SIGTERM: draining %d live calls (at most %g s); new calls are refused",
            ctx.active_calls, self.drain_timeout_s,
        )  # fmt: skip
        self._loop.call_soon_threadsafe(self._start_drain, ctx)

    def _start_drain(self, ctx) -> None:  # noqa: ANN001 - the gateway context
        self._drain = asyncio.create_task(self._wait_for_calls(ctx), name="drain")

    async def _wait_for_calls(self, ctx) -> None:  # noqa: ANN001
        deadline = time.monotonic() + self.drain_timeout_s
        while ctx.active_calls > 0 and time.monotonic() < deadline:
            await asyncio.sleep(POLL_S)
        if ctx.active_calls:
            log.warning("drain timeout: ending %d calls", ctx.active_calls)
        else:
            log.info("drained: no live calls")
        self.should_exit = True


def _context(app: object):  # noqa: ANN202 - the gateway context, if the app has one
    while app is not None:
        state = getattr(app, "state", None)
        ctx = getattr(state, "ctx", None) if state is not None else None
        if ctx is not None:
            return ctx
        app = getattr(app, "app", None)
    return None
