"""A carrier's REST API, as call control uses it: place a call, hang one up,
hand one over. Each carrier's client (transports/<carrier>/rest.py) builds
its requests; this sends them, turns a refusal into `ControlFailed` with the
carrier's own message, and retries only what is idempotent (a hang-up; never
a new call, which a retry could place twice)."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from gateway.wire import ControlFailed

log = logging.getLogger(__name__)

REST_TIMEOUT_S = 10.0
"""Carriers answer in well under a second; this bounds a hung request."""


@dataclass(frozen=True, slots=True)
class CallRequest:
    to: str
    from_: str
    answer_url: str
    status_url: str
    amd_url: str = ""
    """Where the carrier reports answering-machine detection; "" for none."""


class CarrierApi(Protocol):
    name: str
    can_transfer: bool

    async def create_call(self, request: CallRequest) -> str:
        """The carrier's id of the new call ("" where it names it only later)."""
        ...

    async def hang_up(self, call_id: str) -> None: ...

    async def transfer(self, call_id: str, to: str) -> None: ...


def carrier_message(response: httpx.Response) -> str:
    """What the carrier said was wrong, from whichever error shape it uses."""
    try:
        body: Any = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            body = errors[0]
        for key in ("message", "detail", "error", "title"):
            value = body.get(key)
            if value:
                return (value if isinstance(value, str) else json.dumps(value))[:200]
    return json.dumps(body)[:200]


async def send(
    http: httpx.AsyncClient, carrier: str, method: str, url: str, *, retry: bool, **kwargs: Any
) -> httpx.Response:
    """One request to the carrier; a second try only if `retry` (idempotent)
    and the first failed on the way or with a 5xx. Raises ControlFailed."""
    attempts = 2 if retry else 1
    for attempt in range(1, attempts + 1):
        try:
            response = await http.request(method, url, timeout=REST_TIMEOUT_S, **kwargs)
        except httpx.HTTPError as exc:
            if attempt < attempts:
                continue
            raise ControlFailed(f"{carrier} could not be reached ({type(exc).__name__})") from None
        if response.status_code >= 500 and attempt < attempts:
            continue
        if response.status_code >= 400:
            message = carrier_message(response)
            log.warning("%s answered %d: %s", carrier, response.status_code, message)
            raise ControlFailed(f"{carrier} answered {response.status_code}: {message}")
        return response
    raise AssertionError("unreachable")


class StreamControl:
    """One call's control (gateway.wire.CallControl), through its carrier's API."""

    def __init__(self, api: CarrierApi, call_id: str) -> None:
        self.api = api
        self.call_id = call_id
        self.can_transfer = api.can_transfer and bool(call_id)

    async def hang_up(self) -> None:
        await self.api.hang_up(self.call_id)

    async def transfer(self, to: str) -> None:
        await self.api.transfer(self.call_id, to)
