"""Request bodies read under a limit, refused as soon as they pass it.

`await request.body()` reads everything before anyone can look at its size,
and Starlette's form parser spools large parts to disk. Every body Sluice
takes (SDP, JSON offers, webhook forms) is small, so it is read chunk by chunk
and refused the moment it passes its limit: a declared Content-Length over the
limit is refused before a byte of the body is read.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request

READ_DEADLINE_S = 10.0


class BodyRefused(Exception):
    def __init__(self, status: int, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail


async def read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        # isascii: "²".isdigit() is true, and int() refuses it.
        if not (declared.isascii() and declared.isdigit()) or len(declared) > 12:
            raise BodyRefused(400, "malformed", "Content-Length is not a number")
        if int(declared) > limit:
            raise BodyRefused(413, "oversized", f"a body of {declared} bytes; the limit is {limit}")
    parts: list[bytes] = []
    size = 0
    try:
        # A body trickled a byte at a time would hold its request open forever.
        async with asyncio.timeout(READ_DEADLINE_S):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise BodyRefused(413, "oversized", f"a body over {limit} bytes")
                parts.append(chunk)
    except TimeoutError:
        raise BodyRefused(408, "slow_body", f"no whole body within {READ_DEADLINE_S:g} s") from None
    return b"".join(parts)


def content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_form(request: Request, limit: int, max_fields: int = 100) -> dict[str, str]:
    """A url-encoded form (what Twilio sends); multipart is refused unread."""
    return parse_form(await read_form_body(request, limit), max_fields)


async def read_form_body(request: Request, limit: int) -> bytes:
    """A url-encoded form's raw bytes, for checks that sign the body itself."""
    if content_type(request) != "application/x-www-form-urlencoded":
        raise BodyRefused(415, "bad_form", "the webhook takes application/x-www-form-urlencoded")
    return await read_body(request, limit)


def parse_form(body: bytes, max_fields: int = 100) -> dict[str, str]:
    try:
        pairs = parse_qsl(
            body.decode("utf-8"), keep_blank_values=True, strict_parsing=False,
            max_num_fields=max_fields,
        )  # fmt: skip
    except (UnicodeDecodeError, ValueError) as exc:
        raise BodyRefused(400, "bad_form", f"not a form: {exc}") from None
    return dict(pairs)


async def read_json_object(request: Request, limit: int) -> dict[str, Any]:
    """A JSON object; a simple cross-site POST (text/plain) is refused unread."""
    if content_type(request) != "application/json":
        raise BodyRefused(415, "bad_offer", "send application/json")
    return parse_json_object(await read_body(request, limit))


def parse_json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        raise BodyRefused(400, "not_json", "the body is not JSON") from None
    if not isinstance(value, dict):
        raise BodyRefused(400, "malformed", "the body must be a JSON object")
    return value
