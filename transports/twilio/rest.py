"""Twilio's REST API (and SignalWire's, which copies it): Calls.json to place
a call with async answering-machine detection, and a call update to hang up
(`Status=completed`) or to hand the call over (`Twiml` with `<Dial>`)."""

from __future__ import annotations

import httpx
from twilio.twiml.voice_response import Dial, VoiceResponse

from transports.media_stream.rest import CallRequest, send

STATUS_EVENTS = ("initiated", "ringing", "answered", "completed")


def dial_twiml(to: str) -> str:
    response = VoiceResponse()
    dial = Dial()
    if to.startswith("sip:"):
        dial.sip(to)
    else:
        dial.number(to)
    response.append(dial)
    return str(response)


class TwilioApi:
    can_transfer = True

    def __init__(
        self,
        http: httpx.AsyncClient,
        base_url: str,
        account_sid: str,
        token: str,
        name: str = "twilio",
        prefix: str = "/2010-04-01",
    ) -> None:
        self.http = http
        self.name = name
        self.calls = f"{base_url.rstrip('/')}{prefix}/Accounts/{account_sid}/Calls"
        self.auth = httpx.BasicAuth(account_sid, token)

    async def create_call(self, request: CallRequest) -> str:
        form: dict[str, str | list[str]] = {
            "To": request.to,
            "From": request.from_,
            "Url": request.answer_url,
            "Method": "POST",
            "StatusCallback": request.status_url,
            "StatusCallbackMethod": "POST",
            "StatusCallbackEvent": list(STATUS_EVENTS),  # sent once per event
        }
        if request.amd_url:
            # Async, so the stream starts at once; DetectMessageEnd, so a
            # machine's verdict comes at its beep, when a message may begin.
            form |= {
                "MachineDetection": "DetectMessageEnd",
                "AsyncAmd": "true",
                "AsyncAmdStatusCallback": request.amd_url,
                "AsyncAmdStatusCallbackMethod": "POST",
            }
        response = await send(
            self.http, self.name, "POST", f"{self.calls}.json", retry=False, data=form,
            auth=self.auth,
        )  # fmt: skip
        return str(response.json().get("sid", ""))

    async def hang_up(self, call_id: str) -> None:
        await send(self.http, self.name, "POST", f"{self.calls}/{call_id}.json", retry=True,
                   data={"Status": "completed"}, auth=self.auth)  # fmt: skip

    async def transfer(self, call_id: str, to: str) -> None:
        await send(self.http, self.name, "POST", f"{self.calls}/{call_id}.json", retry=False,
                   data={"Twiml": dial_twiml(to)}, auth=self.auth)  # fmt: skip
