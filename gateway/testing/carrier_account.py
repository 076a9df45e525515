"""Placing a call the way each carrier does: a signed answer request, then the
media stream its markup names (or, for Exotel and Asterisk, the fixed URL
with its token)."""

from __future__ import annotations

import secrets

import httpx

from gateway.testing.carrier_answers import Signer, stream_of
from gateway.testing.carrier_caller import CarrierCaller

NEW_CARRIERS = ["signalwire", "telnyx", "plivo", "vonage", "exotel", "asterisk"]
WEBHOOK_CARRIERS = ["twilio", "signalwire", "telnyx", "plivo", "vonage"]
URL_TOKEN = {"exotel": "exotel_stream_token", "asterisk": "asterisk_token"}


class Account:
    """A carrier account pointed at a gateway: the settings it needs, and calls."""

    def __init__(self, carrier: str) -> None:
        self.carrier = carrier
        self.signer = Signer(carrier) if carrier not in URL_TOKEN else None
        self.url_token = secrets.token_urlsafe(16)

    @property
    def settings(self) -> dict[str, str]:
        if self.signer is None:
            return {"carriers": self.carrier, URL_TOKEN[self.carrier]: self.url_token}
        return {"carriers": self.carrier, **self.signer.setting}

    async def answer(self, gw, call_id: str, *, wrong: bool = False) -> httpx.Response:
        assert self.signer is not None
        request = self.signer.request(
            f"{gw.base_url}/{self.carrier}/voice", self.signer.params(call_id), wrong=wrong
        )
        async with httpx.AsyncClient() as client:
            return await client.request(**request)

    async def caller(self, gw, **options) -> CarrierCaller:
        """A fake carrier stream for a new call, admitted as the carrier would be."""
        call_id = "call-" + secrets.token_hex(8)
        if self.signer is None:
            url = f"{gw.ws_url}/{self.carrier}/media?token={self.url_token}"
            return CarrierCaller(self.carrier, url, call_id=call_id, **options)
        response = await self.answer(gw, call_id)
        assert response.status_code == 200, response.text
        url, parameters = stream_of(self.carrier, response.text)
        assert url == f"{gw.ws_url}/{self.carrier}/media", url
        token = parameters.pop("sluice_token", None)
        return CarrierCaller(
            self.carrier, url, token=token, parameters=parameters, call_id=call_id, **options
        )
