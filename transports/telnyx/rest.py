"""Telnyx's TeXML REST API: place a call through the TeXML application (its
answer URL given per call), and update it to hang up or to `<Dial>` another
number. Status events are one space-separated string, and the create
response may not name the call: its id comes with the answer request."""

from __future__ import annotations

from typing import Any

import httpx

from transports.media_stream.rest import CallRequest, send
from transports.twilio.rest import STATUS_EVENTS, dial_twiml


class TelnyxApi:
    name = "telnyx"
    can_transfer = True

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, api_key: str, app_id: str, account_sid: str
    ) -> None:
        self.http = http
        self.base = base_url.rstrip("/")
        self.app_id = app_id
        self.account_sid = account_sid
        self.headers = {"Authorization": f"Bearer {api_key}"}

    async def create_call(self, request: CallRequest) -> str:
        body: dict[str, Any] = {
            "To": request.to,
            "From": request.from_,
            "Url": request.answer_url,
            "UrlMethod": "POST",
            "StatusCallback": request.status_url,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": " ".join(STATUS_EVENTS),
        }
        if request.amd_url:
            body |= {
                "MachineDetection": "DetectMessageEnd",
                "AsyncAmd": True,
                "AsyncAmdStatusCallback": request.amd_url,
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        response = await send(self.http, self.name, "POST",
                              f"{self.base}/v2/texml/calls/{self.app_id}", retry=False,
                              json=body, headers=self.headers)  # fmt: skip
        answer = response.json()
        data = answer.get("data", answer) if isinstance(answer, dict) else {}
        return str(data.get("call_sid") or data.get("sid") or "")

    def _call(self, call_id: str) -> str:
        return f"{self.base}/v2/texml/Accounts/{self.account_sid}/Calls/{call_id}"

    async def hang_up(self, call_id: str) -> None:
        await send(self.http, self.name, "POST", self._call(call_id), retry=True,
                   data={"Status": "completed"}, headers=self.headers)  # fmt: skip

    async def transfer(self, call_id: str, to: str) -> None:
        await send(self.http, self.name, "POST", self._call(call_id), retry=False,
                   data={"Texml": dial_twiml(to)}, headers=self.headers)  # fmt: skip
