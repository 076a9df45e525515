"""What a transport package gives the gateway: its routes and its lifecycle.

A new transport is one folder under transports/ whose `__init__` exports a
`PACKAGE`, listed in `installed()`; the app mounts whatever is installed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from gateway.runtime.context import GatewayContext


def _nothing(ctx: GatewayContext) -> None:
    return None


async def _nothing_async(ctx: GatewayContext) -> None:
    return None


@dataclass(frozen=True, slots=True)
class TransportPackage:
    name: str
    router: Callable[[], APIRouter]
    start: Callable[[GatewayContext], None] = _nothing
    """Once per process, before the first connection."""
    stop: Callable[[GatewayContext], Awaitable[None]] = _nothing_async
    """At shutdown: end this transport's calls."""


def installed() -> list[TransportPackage]:
    from transports import twilio, webrtc, websocket

    return [twilio.PACKAGE, websocket.PACKAGE, webrtc.PACKAGE]
