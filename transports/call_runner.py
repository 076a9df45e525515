"""The life of one call on one connection, shared by every WebSocket adapter:
the adapter holds the call's slot (`ctx.take_slot`) from accept to close;
this takes a Silero stream, starts the call, run the adapter's receive loop beside
it, and end both when either ends."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from gateway import logs
from gateway.call import Call
from gateway.context import GatewayContext
from gateway.flow.playout import PlayoutFlow
from transports import close_codes
from transports.base import Transport

log = logging.getLogger(__name__)

ReceiveLoop = Callable[[Call], Awaitable[tuple[int, str]]]
"""Runs until the connection should end; returns (close code, reason)."""


async def run_call(
    ctx: GatewayContext,
    call_id: str,
    transport: Transport,
    flow: PlayoutFlow,
    receive: ReceiveLoop,
    on_call: Callable[[Call], None] | None = None,
    aliases: tuple[str, ...] = (),
) -> Call:
    """`aliases` are other names the call's record answers to (Twilio's CallSid)."""
    logs.call_id_var.set(call_id)
    vad_model = await ctx.services.vad.acquire()
    call = Call(
        call_id,
        transport,
        flow,
        ctx.services.voice(),
        vad_model,
        ctx.settings.call_settings(),
        ctx.clock,
        ctx.metrics,
    )
    if on_call is not None:
        on_call(call)
    ctx.calls[call_id] = call
    ctx.records.started(call, aliases)
    call_task = asyncio.create_task(call.run(), name=f"{call_id}:call")
    receive_task = asyncio.create_task(receive(call), name=f"{call_id}:receive")
    try:
        done, _ = await asyncio.wait({call_task, receive_task}, return_when=asyncio.FIRST_COMPLETED)
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
        await transport.close(code, call.end_reason or reason)
    finally:
        for task in (call_task, receive_task):
            task.cancel()
        await asyncio.gather(call_task, receive_task, return_exceptions=True)
        ctx.calls.pop(call_id, None)
        ctx.services.vad.release(vad_model)
        ctx.records.ended(call)
    return call
