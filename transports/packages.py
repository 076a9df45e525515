"""What a transport package gives the gateway: its routes and its lifecycle.

A new transport is one folder under transports/ whose `__init__` exports a
`PACKAGE`, listed below; the app mounts the browser transports always and
the phone carriers named by the `carriers` setting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

from fastapi import APIRouter

if TYPE_CHECKING:
    from gateway.runtime.config import Settings
    from gateway.runtime.context import GatewayContext
    from transports.media_stream.carrier import Carrier


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
    secret: str = ""
    """The setting that authenticates a carrier's requests; a public bind
    refuses to start while it is empty (see gateway/server/exposure.py)."""


def _carrier_modules() -> tuple[ModuleType, ...]:
    """Every phone carrier's package, in the order the docs list them."""
    from transports import asterisk, exotel, plivo, signalwire, telnyx, twilio, vonage

    return (twilio, signalwire, telnyx, plivo, vonage, exotel, asterisk)


def carriers() -> list[TransportPackage]:
    """Every phone carrier, in the order the docs list them."""
    return [m.PACKAGE for m in _carrier_modules()]


def carrier_named(settings: Settings, name: str) -> Carrier | None:
    """The carrier `name`, if this gateway serves it (`carriers`)."""
    enabled = settings.enabled_carriers
    if enabled is not None and name not in enabled:
        return None
    return next((m.CARRIER for m in _carrier_modules() if m.CARRIER.name == name), None)


def installed(enabled: Iterable[str] | None = None) -> list[TransportPackage]:
    """The browser transports and the carriers named in `enabled` (all if None)."""
    from transports import webrtc, websocket

    names = None if enabled is None else set(enabled)
    unknown = (names or set()) - {p.name for p in carriers()}
    if unknown:
        raise ValueError(f"unknown carriers: {', '.join(sorted(unknown))}")
    chosen = [p for p in carriers() if names is None or p.name in names]
    return chosen + [websocket.PACKAGE, webrtc.PACKAGE]
