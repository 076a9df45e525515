"""What Sluice retries at a carrier's REST API: a hang-up (ending a call twice
does no harm) once after a 5xx or a failed connection; never a new call,
which a second request could ring twice. A refusal carries the carrier's
own message, whichever error shape it uses."""

from __future__ import annotations

import httpx
import pytest

from gateway.wire import ControlFailed
from transports.media_stream.rest import CallRequest
from transports.twilio.rest import TwilioApi

pytestmark = pytest.mark.timeout(10)

REQUEST = CallRequest("+15551230000", "+15559870000", "https://x/twilio/voice", "https://x/s")


def api(answers: list[httpx.Response | Exception]) -> tuple[TwilioApi, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    http = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return TwilioApi(http, "https://api.example", "AC1", "token"), seen


async def test_a_hang_up_is_tried_again_after_a_5xx_or_a_lost_connection() -> None:
    twilio, seen = api([httpx.Response(503), httpx.Response(200, json={"sid": "CA1"})])
    await twilio.hang_up("CA1")
    assert len(seen) == 2
    twilio, seen = api([httpx.ConnectError("reset"), httpx.Response(200, json={})])
    await twilio.hang_up("CA1")
    assert len(seen) == 2


async def test_a_new_call_is_never_tried_twice() -> None:
    twilio, seen = api([httpx.Response(503, json={"message": "busy"}), httpx.Response(201)])
    with pytest.raises(ControlFailed, match="twilio answered 503: busy"):
        await twilio.create_call(REQUEST)
    assert len(seen) == 1
    twilio, seen = api([httpx.ReadTimeout("slow"), httpx.Response(201)])
    with pytest.raises(ControlFailed, match="could not be reached"):
        await twilio.create_call(REQUEST)
    assert len(seen) == 1


async def test_a_refusal_is_the_carriers_own_message() -> None:
    problem = {"type": "x", "title": "Bad Request", "detail": "Invalid number"}  # Vonage's shape
    twilio, _ = api([httpx.Response(400, json=problem)])
    with pytest.raises(ControlFailed, match="400: Invalid number"):
        await twilio.transfer("CA1", "+15557770000")
    telnyx_shape = {"errors": [{"code": "10015", "title": "Bad", "detail": "Unknown call"}]}
    twilio, _ = api([httpx.Response(422, json=telnyx_shape)])
    with pytest.raises(ControlFailed, match="422: Unknown call"):
        await twilio.hang_up("CA1")
