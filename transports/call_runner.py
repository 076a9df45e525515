"""The life of one call on one connection, shared by every adapter: the
adapter admits the connection and holds its slot (`ctx.take_slot`); this takes
a voice detector, starts the call, runs the adapter's receive loop beside it,
ends both when either ends, and always closes the transport."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from gateway.flow.playout import PlayoutFlow
from gateway.observe import logs
from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from gateway.wire import Aliases, Call, CallInfo, Transport
from transports import close_codes

log = logging.getLogger(__name__)

NO_ALIASES = Aliases()
AGENT_LOG = logging.getLogger("sluice.agent")


@dataclass(frozen=True, slots=True)
class CallDetails:
    """What the wire says of the call, for the agent (see gateway/agents.py)."""

    carrier: str = ""
    caller: str = ""
    callee: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    can_transfer: bool = False


NO_DETAILS = CallDetails()
ReceiveLoop = Callable[[Call], Awaitable[tuple[int, str]]]
"""Runs until the connection should end; returns (close code, reason)."""


def client_address(conn: HTTPConnection) -> str:
    """The peer's address, as the pending limits count it (behind a trusted
    proxy uvicorn has already replaced it with the forwarded one)."""
    return conn.client.host if conn.client else "unknown"


async def run_call(
    ctx: GatewayContext,
    call_id: str,
    transport: Transport,
    flow: PlayoutFlow,
    receive: ReceiveLoop,
    on_call: Callable[[Call], None] | None = None,
    aliases: Aliases = NO_ALIASES,
    details: CallDetails = NO_DETAILS,
    settings: Settings | None = None,
) -> Call | None:
    """Returns the call, or None if it could not be set up. `settings`: this
    call's own (an outbound call's agent or voice), else the process's."""
    settings = settings or ctx.settings
    logs.call_id_var.set(call_id)
    code, reason = close_codes.INTERNAL, "internal error"
    call: Call | None = None
    voice = None
    tasks: list[asyncio.Task] = []
    try:
        # A join costs the shared voice detector a few arrays, no model work.
        voice = ctx.services.voice(
            settings,
            transport.native_audio,
            ctx.services.vad.stream(),
            ctx.clock,
            ctx.metrics,
            transport.kind,
            CallInfo(
                call_id,
                transport.kind,
                details.carrier,
                details.caller,
                details.callee,
                details.parameters,
                AGENT_LOG,
                details.can_transfer,
            ),  # fmt: skip
        )
        call = Call(
            call_id,
            transport,
            flow,
            voice,
            settings.call_settings(),
            ctx.clock,
            ctx.metrics,
            fallback_tts=ctx.services.tts,
        )
        if on_call is not None:
            on_call(call)
        ctx.calls[call_id] = call
        ctx.records.started(call, aliases)
        if ctx.cluster is not None:
            ctx.cluster.call_started(
                call_id, _summary(ctx, call_id), list(aliases.trusted), list(aliases.claimed)
            )
        call_task = asyncio.create_task(call.run(), name=f"{call_id}:call")
        receive_task = asyncio.create_task(_guarded(receive, call), name=f"{call_id}:receive")
        tasks = [call_task, receive_task]
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        if receive_task in done:
            code, reason = receive_task.result()
            call.end(reason)
            await call_task
        else:
            reason = call_task.result()
            code = close_codes.FOR_END_REASON.get(reason, close_codes.NORMAL)
            receive_task.cancel()
            await asyncio.gather(receive_task, return_exceptions=True)
        log.info("call ended: %s", call.end_reason)
        reason = call.end_reason or reason
    except Exception:
        log.exception("call setup or teardown failed")
        if call is not None:
            call.end("internal error")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await transport.close(code, reason)
        if call is not None:
            ctx.calls.pop(call_id, None)
            ctx.records.ended(call)
            if ctx.cluster is not None:
                record = ctx.records.get(call_id) or {}
                ctx.cluster.call_ended(call_id, {**record, "node": ctx.settings.node_url})
        elif voice is not None:
            await voice.aclose()  # set up, never run: its detector stream goes back
    return call


def _summary(ctx: GatewayContext, call_id: str) -> dict:
    """What every node shows of a live call in GET /calls."""
    listed = next((c for c in ctx.records.recent() if c["call_id"] == call_id), {})
    return {**listed, "node": ctx.settings.node_url}


async def _guarded(receive: ReceiveLoop, call: Call) -> tuple[int, str]:
    """A receive loop that raises ends its call with 1011, never a bare drop."""
    try:
        return await receive(call)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("receive loop failed")
        call.metrics.protocol_errors.labels(call.kind, "internal").inc()
        return close_codes.INTERNAL, "internal error"
