"""Property-based fuzzing of the webhook and offer body readers (gateway.access.http_limits).

A reader either returns the body or refuses it with the documented 4xx status,
in the documented order of checks; no other exception may escape.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.access.http_limits import BodyRefused, read_body, read_form, read_json_object
from tests.unit.fuzz_material import JSON_VALUES

pytestmark = pytest.mark.timeout(120)


LIMIT = 1024
MAX_FIELDS = 100
FORM = "application/x-www-form-urlencoded"


def _refusal(refused: BodyRefused) -> Response:
    return Response(status_code=refused.status)


async def _form_route(request: Request) -> Response:
    try:
        fields = await read_form(request, LIMIT, MAX_FIELDS)
    except BodyRefused as refused:
        return _refusal(refused)
    return JSONResponse({"size": len(fields)})


async def _json_route(request: Request) -> Response:
    try:
        value = await read_json_object(request, LIMIT)
    except BodyRefused as refused:
        return _refusal(refused)
    return JSONResponse({"size": len(value)})


async def _body_route(request: Request) -> Response:
    try:
        body = await read_body(request, LIMIT)
    except BodyRefused as refused:
        return _refusal(refused)
    return JSONResponse({"size": len(body)})


# No exception handlers: an exception escaping a reader is a 500, and with
# ASGITransport's default raise_app_exceptions it fails the test with its traceback.
LIMITS_APP = Starlette(
    routes=[
        Route("/form", _form_route, methods=["POST"]),
        Route("/json", _json_route, methods=["POST"]),
        Route("/body", _body_route, methods=["POST"]),
    ]
)
ROUTE_TYPES = {"/form": FORM, "/json": "application/json", "/body": None}


@pytest.fixture(scope="module")
def http_client(loop: asyncio.AbstractEventLoop) -> Iterator[httpx.AsyncClient]:
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=LIMITS_APP), base_url="http://127.0.0.1"
    )
    yield client
    loop.run_until_complete(client.aclose())


_BODIES = st.one_of(
    st.binary(max_size=3 * LIMIT),
    st.text(max_size=LIMIT + 200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), max_size=120).map(
        lambda pairs: urlencode(pairs).encode()
    ),
    st.integers(0, 140).map(lambda n: "&".join(["a=1"] * n).encode()),  # field-count edge
    JSON_VALUES.map(lambda v: json.dumps(v).encode()),
    st.integers(LIMIT - 3, LIMIT + 3).map(lambda n: b"a=" + b"b" * (n - 2)),  # size edge
)
_CONTENT_TYPES = st.one_of(
    st.none(),  # no header at all
    st.sampled_from(
        [
            FORM,
            FORM + "; charset=utf-8",
            "APPLICATION/X-WWW-FORM-URLENCODED",
            " " + FORM + " ",
            "multipart/form-data; boundary=xyz",
            "text/plain",
            "application/json",
            "application/json; charset=utf-8",
            "application/sdp",
            "",
            ";",
        ]
    ).map(str.encode),
    st.binary(max_size=40),
)
_LENGTHS = st.one_of(
    st.just("auto"),  # httpx's own, correct Content-Length
    st.just("absent"),  # a streamed body: chunked, no Content-Length
    st.integers(0, 2 * LIMIT).map(lambda n: str(n).encode()),  # often a lie
    st.integers(0, 10**20).map(lambda n: str(n).encode()),  # huge, and over 12 digits
    st.sampled_from(["", "-1", "+5", " 5", "5 ", "1e3", "0x10", "²", "¹²", "½", "0" * 13]).map(
        lambda s: s.encode("latin-1")
    ),
    st.binary(max_size=14),
)


def _expected(route: str, ctype: bytes | None, declared: bytes | None, body: bytes) -> set[int]:
    """The statuses the documented behaviour allows, in the readers' order of checks."""
    wanted = ROUTE_TYPES[route]
    if wanted is not None:
        media_type = (ctype or b"").decode("latin-1").split(";")[0].strip().lower()
        if media_type != wanted:
            return {415}  # refused unread, whatever the body
    if declared is not None:
        text = declared.decode("latin-1")  # how Starlette decodes header bytes
        if not re.fullmatch(r"[0-9]{1,12}", text):
            return {400}  # "Content-Length is not a number"
        if int(text) > LIMIT:
            return {413}
    if len(body) > LIMIT:
        return {413}
    if route == "/body":
        return {200}
    if route == "/json":
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            return {400}
        return {200} if isinstance(value, dict) else {400}
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return {400}
    fields = text.count("&") + 1 if text else 0
    return {400} if fields > MAX_FIELDS else {200}


async def _chunks(body: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start : start + size]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(
    route=st.sampled_from(sorted(ROUTE_TYPES)),
    body=_BODIES,
    ctype=_CONTENT_TYPES,
    length=_LENGTHS,
    chunk=st.integers(1, 700),
    streamed=st.booleans(),
)
@example(  # a digit to str.isdigit() that int() refuses
    route="/form", body=b"a=1", ctype=FORM.encode(), length=b"\xb2", chunk=1, streamed=False
)
def test_http_limits_bodies(
    loop: asyncio.AbstractEventLoop,
    http_client: httpx.AsyncClient,
    route: str,
    body: bytes,
    ctype: bytes | None,
    length: str | bytes,
    chunk: int,
    streamed: bool,
) -> None:
    headers: list[tuple[bytes, bytes]] = []
    if ctype is not None:
        headers.append((b"content-type", ctype))
    if isinstance(length, bytes):
        headers.append((b"content-length", length))
    content: bytes | AsyncIterator[bytes]
    content = _chunks(body, chunk) if streamed or length == "absent" else body

    response = loop.run_until_complete(http_client.post(route, content=content, headers=headers))
    # What the app really saw: httpx adds its own length to a body given whole.
    sent = [v for k, v in response.request.headers.raw if k.lower() == b"content-length"]
    declared = sent[0] if sent else None

    assert response.status_code in {200, 400, 413, 415}, response.status_code
    assert response.status_code in _expected(route, ctype, declared, body), (
        response.status_code,
        declared,
        len(body),
    )
    if response.status_code == 200 and route == "/form":
        assert response.json()["size"] <= MAX_FIELDS
