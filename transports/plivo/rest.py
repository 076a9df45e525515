"""Plivo's REST API: Make Call (answer, ring and hang-up URLs, and machine
detection), DELETE to hang up, and a transfer that points the call at a URL
of ours returning `<Dial>`: Plivo takes no XML inline. Its create names a
request, not the call; the call's id comes with the answer request."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import httpx

from transports.media_stream.rest import CallRequest, send


class PlivoApi:
    name = "plivo"
    can_transfer = True

    def __init__(
        self, http: httpx.AsyncClient, base_url: str, auth_id: str, token: str, public_url: str
    ) -> None:
        self.http = http
        self.calls = f"{base_url.rstrip('/')}/v1/Account/{auth_id}/Call/"
        self.auth = httpx.BasicAuth(auth_id, token)
        self.public_url = public_url.rstrip("/")

    async def create_call(self, request: CallRequest) -> str:
        body: dict[str, Any] = {
            "from": request.from_,
            "to": request.to,
            "answer_url": request.answer_url,
            "answer_method": "POST",
            "ring_url": request.status_url,
            "hangup_url": request.status_url,
        }
        if request.amd_url:
            body |= {
                "machine_detection": "true",
                "machine_detection_url": request.amd_url,
                "machine_detection_method": "POST",
            }
        await send(self.http, self.name, "POST", self.calls, retry=False, json=body,
                              auth=self.auth)  # fmt: skip
        return ""  # `request_uuid` names the request; the call's own id comes at its answer

    async def hang_up(self, call_id: str) -> None:
        await send(self.http, self.name, "DELETE", f"{self.calls}{call_id}/", retry=True,
                   auth=self.auth)  # fmt: skip

    async def transfer(self, call_id: str, to: str) -> None:
        url = f"{self.public_url}/plivo/transfer?{urlencode({'to': to})}"
        body = {"legs": "aleg", "aleg_url": url, "aleg_method": "POST"}
        await send(self.http, self.name, "POST", f"{self.calls}{call_id}/", retry=False,
                   json=body, auth=self.auth)  # fmt: skip
