"""Vonage's Voice API: create a call whose answer_url is Sluice's (Vonage
fetches it with GET), with its events and the advanced machine detection's
verdicts to one event URL; `PUT /v1/calls/{uuid}` to hang up or to transfer
to an NCCO that connects the destination. Each request carries a short-lived
JWT signed RS256 with the application's private key."""

from __future__ import annotations

import secrets
import time
from typing import Any

import httpx
import jwt

from transports.media_stream.rest import CallRequest, send

JWT_LIFE_S = 300


def endpoint(to: str) -> dict[str, str]:
    """A destination as Vonage names one: a SIP URI, or a number without its "+"."""
    if to.startswith("sip:"):
        return {"type": "sip", "uri": to}
    return {"type": "phone", "number": to.lstrip("+")}


class VonageApi:
    name = "vonage"
    can_transfer = True

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, application_id: str, private_key: str
    ) -> None:
        self.http = http
        self.calls = f"{base_url.rstrip('/')}/v1/calls"
        self.application_id = application_id
        self.private_key = private_key

    def _headers(self) -> dict[str, str]:
        now = int(time.time())
        claims = {"application_id": self.application_id, "iat": now, "exp": now + JWT_LIFE_S,
                  "jti": secrets.token_hex(16)}  # fmt: skip
        return {"Authorization": "Bearer " + jwt.encode(claims, self.private_key, "RS256")}

    async def create_call(self, request: CallRequest) -> str:
        body: dict[str, Any] = {
            "to": [endpoint(request.to)],
            "from": {"type": "phone", "number": request.from_.lstrip("+")},
            "answer_url": [request.answer_url],
            "answer_method": "GET",
            "event_url": [request.status_url],
            "event_method": "POST",
        }
        if request.amd_url:
            # The verdict comes as an event on event_url; `detect_beep` adds
            # one at the beep, when a message may begin.
            body["advanced_machine_detection"] = {
                "behavior": "continue", "mode": "detect_beep", "beep_timeout": 45,
            }  # fmt: skip
        response = await send(self.http, self.name, "POST", self.calls, retry=False, json=body,
                              headers=self._headers())  # fmt: skip
        return str(response.json().get("uuid", ""))

    async def hang_up(self, call_id: str) -> None:
        await send(self.http, self.name, "PUT", f"{self.calls}/{call_id}", retry=True,
                   json={"action": "hangup"}, headers=self._headers())  # fmt: skip

    async def transfer(self, call_id: str, to: str) -> None:
        connect = [{"action": "connect", "endpoint": [endpoint(to)]}]
        body = {"action": "transfer", "destination": {"type": "ncco", "ncco": connect}}
        await send(self.http, self.name, "PUT", f"{self.calls}/{call_id}", retry=False,
                   json=body, headers=self._headers())  # fmt: skip
