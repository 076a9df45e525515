"""Fakes of the carriers' REST APIs (Twilio, Telnyx's TeXML, Plivo, Vonage), written
from their documentation (the facts in docs/guides/outbound-calls.md).

Each checks its credentials, records every request on the monotonic clock,
and then does what the carrier does: a new call gets signed status
callbacks, a signed answer request to its answer URL, a media stream to the
URL the answer names (a `CarrierCaller`, which logs what it played), and an
answering-machine verdict when asked for one. A hang-up request closes the
stream; a transfer request closes it too (the call goes to the destination).
Tests compare the times: the goodbye's last frame played against the moment
the hang-up request arrived.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import socket
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.testing.carrier_answers import Signer, stream_of
from gateway.testing.carrier_caller import CarrierCaller

ANSWERED = {"twilio": "in-progress", "telnyx": "in-progress", "plivo": "in-progress",
            "vonage": "answered"}  # fmt: skip
VONAGE_STATUS = {"initiated": "started", "ringing": "ringing", "in-progress": "answered",
                 "completed": "completed"}  # fmt: skip
ID_PARAM = {"twilio": "CallSid", "telnyx": "CallSid", "plivo": "CallUUID", "vonage": "uuid"}


@dataclass
class Recorded:
    at: float
    method: str
    path: str
    fields: dict[str, Any]


@dataclass
class PlacedCall:
    sid: str
    to: str
    from_: str
    answer_url: str
    status_url: str
    amd_url: str
    caller: CarrierCaller | None = None
    answer: httpx.Response | None = None
    callbacks: list[tuple[str, int]] = field(default_factory=list)
    """(what was reported, the gateway's status code)."""


class FakeCarrierApi:
    """One carrier account's REST API, calling back into the gateway at `gw`."""

    def __init__(self, signer: Signer, *, verdict: str = "", verdict_after_s: float = 1.0) -> None:
        self.carrier = signer.carrier
        self.signer = signer
        self.verdict = verdict
        """What answering-machine detection reports, when asked: "human",
        "machine_end_beep" (Twilio, Telnyx) or "machine" (Plivo)."""
        self.verdict_after_s = verdict_after_s
        self.ring_s = 0.0
        """How long each call rings before it is answered."""
        self.account = "AC" + secrets.token_hex(16)
        self.key = secrets.token_urlsafe(16)
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        """The Vonage application's key pair: Sluice signs with the private half."""
        self.requests: list[Recorded] = []
        self.calls: list[PlacedCall] = []
        self.hang_ups: list[tuple[float, str]] = []
        self.transfers: list[tuple[float, str, str]] = []
        """(when, call, destination) of each transfer asked for."""
        self.fail_next: tuple[int, dict[str, Any]] | None = None
        self.refused: list[str] = []
        self.base_url = ""
        self._tasks: set[asyncio.Task] = set()
        self._server: uvicorn.Server | None = None
        self._serving: asyncio.Task | None = None

    # ---- the gateway's settings for this account -----------------------------

    @property
    def settings(self) -> dict[str, str]:
        base = {"carriers": self.carrier, **self.signer.setting}
        if self.carrier == "twilio":
            return {**base, "twilio_account_sid": self.account,
                    "twilio_api_base_url": self.base_url}  # fmt: skip
        if self.carrier == "telnyx":
            return {**base, "telnyx_api_key": self.key, "telnyx_texml_app_id": "app-1",
                    "telnyx_account_sid": self.account,
                    "telnyx_api_base_url": self.base_url}  # fmt: skip
        if self.carrier == "vonage":
            pem = self._rsa.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
            return {**base, "vonage_application_id": "app-1", "vonage_private_key": pem.decode(),
                    "vonage_api_base_url": self.base_url}  # fmt: skip
        return {**base, "plivo_auth_id": self.account, "plivo_api_base_url": self.base_url}

    # ---- serving ---------------------------------------------------------------

    async def start(self) -> FakeCarrierApi:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        methods = ["POST", "DELETE", "PUT"]
        app = Starlette(routes=[Route("/{path:path}", self._handle, methods=methods)])
        self._server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
        self._serving = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            await asyncio.sleep(0.01)
        return self

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for call in self.calls:
            if call.caller is not None:
                await call.caller.hang_up()
        if self._server is not None and self._serving is not None:
            self._server.should_exit = True
            await asyncio.wait_for(self._serving, 5)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _authorised(self, request: Request) -> bool:
        given = request.headers.get("authorization", "")
        if self.carrier == "telnyx":
            return given == f"Bearer {self.key}"
        if self.carrier == "vonage":
            try:  # RS256 with the application's key, naming the application, short-lived
                claims = jwt.decode(
                    given.removeprefix("Bearer "),
                    self._rsa.public_key(),
                    algorithms=["RS256"],
                    options={"require": ["exp", "jti"]},
                )
            except jwt.PyJWTError:
                return False
            return claims.get("application_id") == "app-1"  # fmt: skip
        expected = self.account + ":" + self.signer.secret
        return given == "Basic " + base64.b64encode(expected.encode()).decode()

    async def _handle(self, request: Request) -> Response:
        body = await request.body()
        is_json = request.headers.get("content-type", "").startswith("application/json")
        fields = json.loads(body) if is_json and body else dict(parse_qsl(body.decode()))
        if self.carrier == "twilio" and not is_json:
            fields["StatusCallbackEvent"] = [v for k, v in parse_qsl(body.decode())
                                             if k == "StatusCallbackEvent"]  # fmt: skip
        path = request.url.path
        self.requests.append(Recorded(time.monotonic(), request.method, path, fields))
        if not self._authorised(request):
            self.refused.append(path)
            return JSONResponse({"code": 20003, "message": "Authenticate", "status": 401}, 401)
        if self.fail_next is not None:
            (status, error), self.fail_next = self.fail_next, None
            return JSONResponse(error, status)
        return await self._route(request.method, path, fields)

    async def _route(self, method: str, path: str, fields: dict[str, Any]) -> Response:
        parts = path.strip("/").split("/")
        create = {
            "twilio": path == f"/2010-04-01/Accounts/{self.account}/Calls.json",
            "telnyx": path == "/v2/texml/calls/app-1",
            "plivo": path == f"/v1/Account/{self.account}/Call/",
            "vonage": path == "/v1/calls",
        }[self.carrier]
        if create and method == "POST":
            return self._create(fields)
        sid = parts[-1].removesuffix(".json")
        call = next((c for c in self.calls if c.sid == sid), None)
        if call is None:
            return JSONResponse({"message": "The requested resource was not found"}, 404)
        if (method == "DELETE" or fields.get("Status") == "completed"
                or fields.get("action") == "hangup"):  # fmt: skip
            self.hang_ups.append((time.monotonic(), sid))
            self._spawn(self._end(call, "completed"))
            return Response(status_code=204) if method == "DELETE" else JSONResponse({"sid": sid})
        destination = self._destination(fields)
        if destination is None:
            return JSONResponse({"message": "nothing to update"}, 400)
        if self.carrier == "plivo":
            destination = await self._fetch_dial(fields["aleg_url"])
        self.transfers.append((time.monotonic(), sid, destination))
        self._spawn(self._end(call, None))
        return JSONResponse({"sid": sid, "message": "call transferred"}, 202)

    @staticmethod
    def _destination(fields: dict[str, Any]) -> str | None:
        markup = fields.get("Twiml") or fields.get("Texml")
        if markup:
            start = markup.index("<Number>") + len("<Number>")
            return markup[start : markup.index("</Number>")]
        if fields.get("action") == "transfer":  # Vonage: an NCCO that connects the number
            (connect,) = fields["destination"]["ncco"]
            return "+" + connect["endpoint"][0]["number"]
        return "(url)" if fields.get("legs") == "aleg" and fields.get("aleg_url") else None

    async def _fetch_dial(self, url: str) -> str:
        """Plivo fetches the transfer URL, signed, and dials what it answers."""
        async with httpx.AsyncClient() as http:
            answer = await http.request(**self.signer.request(url, {"CallUUID": "x"}))
        if answer.status_code != 200:
            return f"(refused {answer.status_code})"
        return answer.text.split("<Number>")[1].split("</Number>")[0]

    def _create(self, fields: dict[str, Any]) -> Response:
        f = {k.lower(): v for k, v in fields.items()}
        sid = {"twilio": "CA", "telnyx": "v3:", "plivo": "", "vonage": ""}[self.carrier]
        sid += secrets.token_hex(16)
        if self.carrier == "vonage":  # one event URL carries the machine's verdict too
            to, from_ = f["to"][0]["number"], f["from"]["number"]
            amd = f["event_url"][0] if "advanced_machine_detection" in f else ""
            call = PlacedCall(sid, to, from_, f["answer_url"][0], f["event_url"][0], amd)
        else:
            amd = f.get("asyncamdstatuscallback") or f.get("machine_detection_url") or ""
            call = PlacedCall(sid, f["to"], f["from"], f.get("url") or f["answer_url"],
                              f.get("statuscallback") or f.get("hangup_url", ""), amd)  # fmt: skip
        self.calls.append(call)
        self._spawn(self._place(call))
        if self.carrier == "twilio":
            return JSONResponse({"sid": sid, "status": "queued"}, 201)
        if self.carrier == "telnyx":
            return JSONResponse({"from": call.from_, "to": call.to, "status": "queued"})
        if self.carrier == "vonage":
            return JSONResponse({"uuid": sid, "status": "started", "direction": "outbound",
                                 "conversation_uuid": "CON-" + sid}, 201)  # fmt: skip
        return JSONResponse({"message": "call fired", "request_uuid": secrets.token_hex(8),
                             "api_id": secrets.token_hex(4)}, 201)  # fmt: skip

    # ---- the call, as the carrier places it -------------------------------------

    async def _callback(self, call: PlacedCall, url: str, params: dict[str, str]) -> None:
        if self.carrier == "vonage":  # JSON events, named in its own words
            vonage = {"uuid": call.sid, "from": call.from_, "to": call.to,
                      "status": VONAGE_STATUS.get(params.get("CallStatus", ""), "")}  # fmt: skip
            if "AnsweredBy" in params:
                machine = params["AnsweredBy"].startswith("machine")
                vonage["status"] = "machine" if machine else "human"
                if params["AnsweredBy"] == "machine_end_beep":
                    vonage["sub_state"] = "beep_start"
            request = self.signer.event(url, vonage)
            shown = vonage["status"]
        else:
            params = {ID_PARAM[self.carrier]: call.sid, "From": call.from_, "To": call.to,
                      **params}  # fmt: skip
            request = self.signer.request(url, params)
            shown = params.get("CallStatus") or json.dumps(params)
        async with httpx.AsyncClient() as http:
            answer = await http.request(**request)
        call.callbacks.append((shown, answer.status_code))

    async def _place(self, call: PlacedCall) -> None:
        if self.carrier != "plivo":
            await self._callback(call, call.status_url, {"CallStatus": "initiated"})
        await self._callback(call, call.status_url, {"CallStatus": "ringing"})
        await asyncio.sleep(self.ring_s)
        params = {ID_PARAM[self.carrier]: call.sid, "From": call.from_, "To": call.to,
                  "CallStatus": ANSWERED[self.carrier]}  # fmt: skip
        if self.carrier == "vonage":  # its answer request names the call in its own words
            params = {"to": call.to, "from": call.from_, "uuid": call.sid,
                      "conversation_uuid": "CON-" + call.sid}  # fmt: skip
        async with httpx.AsyncClient() as http:
            call.answer = await http.request(**self.signer.request(call.answer_url, params))
        connects = '"websocket"' if self.carrier == "vonage" else "Stream"
        if call.answer.status_code != 200 or connects not in call.answer.text:
            return  # refused: the carrier ends the call
        if self.carrier != "plivo":
            await self._callback(call, call.status_url, {"CallStatus": "in-progress"})
        url, parameters = stream_of(self.carrier, call.answer.text)
        token = parameters.pop("sluice_token", None)
        call.caller = CarrierCaller(self.carrier, url, token=token, parameters=parameters,
                                    call_id=call.sid)  # fmt: skip
        await call.caller.connect()
        if self.verdict and call.amd_url:
            await asyncio.sleep(self.verdict_after_s)
            verdict = ({"Machine": "true" if self.verdict == "machine" else "false"}
                       if self.carrier == "plivo" else {"AnsweredBy": self.verdict})  # fmt: skip
            await self._callback(call, call.amd_url, verdict)

    async def _end(self, call: PlacedCall, status: str | None) -> None:
        """The carrier ends the media stream; a hang-up is reported as completed."""
        if call.caller is not None:
            await call.caller.hang_up()
        if status is not None:
            await self._callback(call, call.status_url, {"CallStatus": status})
