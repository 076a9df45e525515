"""Twilio's answer: the X-Twilio-Signature check and the TwiML that connects
the stream, with its one-time token as a `<Parameter>` (Twilio drops a query
string on the stream URL)."""

from __future__ import annotations

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, VoiceResponse

from gateway.runtime.config import Settings
from transports.media_stream.answer import Answer, Signed
from transports.twilio.protocol import TOKEN_PARAMETER

REJECT_BUSY = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject reason="busy"/></Response>'
REJECT = '<?xml version="1.0" encoding="UTF-8"?><Response><Reject/></Response>'


def signature_valid(auth_token: str, url: str, params: dict[str, str], signature: str) -> bool:
    if not signature:
        return False
    return bool(RequestValidator(auth_token).validate(url, params, signature))


def stream_twiml(stream_url: str, token: str, parameters: dict[str, str]) -> str:
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    stream.parameter(name=TOKEN_PARAMETER, value=token)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def signed_by(header: str, alias: str = ""):
    """Twilio's scheme (base64 HMAC-SHA1 of the URL and the sorted form), read from `header`."""

    def verify(secret: str, request: Signed, settings: Settings) -> bool:
        signature = request.headers.get(header) or (request.headers.get(alias) if alias else "")
        return signature_valid(secret, request.url, request.params, signature or "")

    return verify


def connect_stream(
    stream_url: str, token: str, call_id: str, numbers: dict[str, str], settings: Settings
) -> str:
    return stream_twiml(stream_url, token, {"call_sid": call_id, **numbers})


ANSWER = Answer(
    verify=signed_by("x-twilio-signature"),
    markup=connect_stream,
    busy=REJECT_BUSY,
    refused=REJECT,
    call_id="CallSid",
)
