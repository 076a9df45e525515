"""Plivo's answer: the V3 signature and the `<Stream>` XML that opens a
bidirectional stream, its token in `extraHeaders`."""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import parse_qsl, urlsplit, urlunsplit
from xml.sax.saxutils import escape, quoteattr

from gateway.runtime.config import Settings
from transports.media_stream.answer import Answer, Signed
from transports.plivo.protocol import TOKEN_HEADER


def _query_text(pairs: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def signed_text(method: str, url: str, params: dict[str, str], nonce: str) -> str:
    """What X-Plivo-Signature-V3 signs. The URL without its query, then `?`
    and the query sorted as `k=v&…`; for a POST with a body, `?` always, a `.` after a non-empty
    query, and the body's parameters sorted as `kv…`; then `.` and the nonce."""
    parts = urlsplit(url)
    base = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
    query = parse_qsl(parts.query, keep_blank_values=True)
    if method == "GET":
        # A GET's parameters are its query: the URL already carries them.
        text = _query_text(query)
        signed = base + ("?" + text if text else "")
    else:
        text = _query_text(query)
        signed = base
        if text or params:
            signed += "?" + text
        if text and params:
            signed += "."
        signed += "".join(k + v for k, v in sorted(params.items()))
    return f"{signed}.{nonce}"


def signature(auth_token: str, text: str) -> str:
    digest = hmac.new(auth_token.encode(), text.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify(auth_token: str, request: Signed, settings: Settings) -> bool:
    nonce = request.headers.get("x-plivo-signature-v3-nonce", "")
    given = request.headers.get("x-plivo-signature-v3", "")
    if not nonce or not given:
        return False
    expected = signature(auth_token, signed_text(request.method, request.url, request.params,
                                                 nonce))  # fmt: skip
    # Bytes: compare_digest refuses a str that is not ASCII, and a header may be anything.
    return any(hmac.compare_digest(expected.encode(), s.strip().encode()) for s in given.split(","))


def stream_xml(
    stream_url: str, token: str, call_id: str, numbers: dict[str, str], settings: Settings
) -> str:
    headers = ",".join(f"{k}={v}" for k, v in {TOKEN_HEADER: token, **numbers}.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f'<Stream bidirectional="true" keepCallAlive="true" audioTrack="inbound" '
        f"contentType={quoteattr(settings.plivo_content_type)} "
        f"extraHeaders={quoteattr(headers)}>{escape(stream_url)}</Stream></Response>"
    )


ANSWER = Answer(
    verify=verify,
    markup=stream_xml,
    busy='<?xml version="1.0" encoding="UTF-8"?><Response><Hangup reason="busy"/></Response>',
    refused='<?xml version="1.0" encoding="UTF-8"?><Response><Hangup/></Response>',
    call_id="CallUUID",
    methods=("POST", "GET"),
)
