"""The answer endpoint every webhook carrier shares: refuse browsers, read the
request under a limit, rebuild the URL the carrier signed, check the
signature, answer busy without a free slot, mint a one-time stream token for
the call, and return the carrier's markup pointing at its media stream.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Request, Response

from gateway.access.http_limits import (
    BodyRefused,
    parse_form,
    parse_json_object,
    read_body,
    read_form_body,
)
from gateway.cluster.redis_state import ClusterUnavailable
from gateway.runtime.config import Settings
from gateway.runtime.context import GatewayContext
from transports.media_stream.outbound import outbound_calls
from transports.media_stream.tokens import issue_token

if TYPE_CHECKING:
    from transports.media_stream.carrier import Carrier

log = logging.getLogger(__name__)

MAX_ANSWER_BYTES = 64 * 1024
"""An answer request is a few kilobytes of call parameters."""


@dataclass(frozen=True, slots=True)
class Signed:
    """An answer request as its signature covers it."""

    url: str
    """The public URL the carrier requested, query included."""
    method: str
    params: dict[str, str]
    body: bytes
    headers: Mapping[str, str]


@dataclass(frozen=True)
class Answer:
    verify: Callable[[str, Signed, Settings], bool]
    """(secret, request, settings) -> whether the carrier signed it; called only
    with a secret set."""
    markup: Callable[[str, str, str, dict[str, str], Settings], str]
    """(media URL, token, call id, numbers, settings) -> the answer that
    connects the stream; `numbers` ({"from", "to"}) go back as parameters, for
    the agent."""
    busy: str
    """The answer when no slot is free: the call is turned away."""
    refused: str
    """The answer to a replay: the stream for this call already started."""
    call_id: str
    """The parameter naming the call; the stream must claim the same id."""
    numbers: tuple[str, str] = ("From", "To")
    """The parameters naming the caller and the number called."""
    media_type: str = "application/xml"
    methods: tuple[str, ...] = ("POST",)
    body: Literal["form", "json"] = "form"


def from_a_browser(ctx: GatewayContext, kind: str, origin: str | None) -> bool:
    """Carriers send no Origin; a browser page does. WebSockets escape CORS, so
    without this any page a developer visits could place calls in dev mode."""
    if origin is None:
        return False
    ctx.metrics.protocol_errors.labels(kind, "bad_origin").inc()
    log.warning("%s route refused: a browser Origin %r", kind, origin)
    return True


_NOT_IN_A_NUMBER = re.compile(r"[^\w+@.:-]")


def _number(value: str) -> str:
    """A phone number or SIP address, made safe to pass back in any carrier's
    parameter syntax (Plivo's extraHeaders split on `,` and `=`)."""
    return _NOT_IN_A_NUMBER.sub("", value)[:64]


def public_url(
    request_url: str, forwarded_proto: str | None, forwarded_host: str | None, base: str
) -> str:
    """The URL the carrier signed: behind a proxy, rebuilt from the forwarded scheme and host."""
    parts = urlsplit(request_url)
    if base:
        b = urlsplit(base)
        return urlunsplit((b.scheme, b.netloc, parts.path, parts.query, ""))
    scheme = (forwarded_proto or parts.scheme).split(",")[0].strip()
    host = (forwarded_host or parts.netloc).split(",")[0].strip()
    url = urlunsplit((scheme, host, parts.path, parts.query, ""))
    rebuilt = urlsplit(url)  # raises ValueError for a forwarded host like "[" ...
    _ = rebuilt.port  # ... or a port like 99999999
    if scheme not in ("http", "https") or not rebuilt.hostname:
        raise ValueError(f"not a public URL: {url!r}")
    return url


def media_stream_url(answer_url: str, path: str) -> str:
    parts = urlsplit(answer_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


async def _params(request: Request, answer: Answer) -> tuple[dict[str, str], bytes]:
    if request.method == "GET":
        return dict(request.query_params), b""
    if answer.body == "json":
        body = await read_body(request, MAX_ANSWER_BYTES)
        value = parse_json_object(body)
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}, body
    body = await read_form_body(request, MAX_ANSWER_BYTES)
    return parse_form(body), body


async def checked_request(
    request: Request, ctx: GatewayContext, carrier: Carrier, answer: Answer
) -> tuple[dict[str, str], str] | Response:
    """A request from the carrier, read under a limit and its signature
    checked as the answer's is: (its parameters, the URL it was made to), or
    the refusal. Status and detection callbacks are signed the same way."""
    kind = carrier.name
    settings = ctx.settings
    if from_a_browser(ctx, kind, request.headers.get("origin")):
        return Response("not for browsers", status_code=403)
    try:
        params, body = await _params(request, answer)
    except BodyRefused as refused:
        ctx.metrics.protocol_errors.labels(kind, refused.kind).inc()
        log.warning("%s request refused: %s", kind, refused.detail)
        return Response(refused.detail, status_code=refused.status)
    try:
        url = public_url(
            str(request.url),
            request.headers.get("x-forwarded-proto"),
            request.headers.get("x-forwarded-host"),
            settings.public_url,
        )
    except ValueError:
        ctx.metrics.protocol_errors.labels(kind, "malformed").inc()
        return Response("bad forwarded host", status_code=400)
    secret = getattr(settings, carrier.secret)
    signed = Signed(url, request.method, params, body, request.headers)
    if secret and not answer.verify(secret, signed, settings):
        ctx.metrics.protocol_errors.labels(kind, "bad_signature").inc()
        log.warning("%s request refused: bad or missing signature for %r", kind, url)
        return Response("invalid signature", status_code=403)
    return params, url


def mount(api: APIRouter, carrier: Carrier, answer: Answer) -> None:
    kind = carrier.name

    async def answer_call(request: Request) -> Response:
        ctx: GatewayContext = request.app.state.ctx
        settings = ctx.settings

        def reply(text: str) -> Response:
            return Response(text, media_type=answer.media_type)

        checked = await checked_request(request, ctx, carrier, answer)
        if isinstance(checked, Response):
            return checked
        params, url = checked
        assert ctx.slots is not None
        if (room := await ctx.slots.room()) != "ok":
            log.warning("%s answered busy: %s", kind, room)
            return reply(answer.busy)
        call_id = params.get(answer.call_id, "")
        passed: dict[str, str] = {}
        if (outbound := request.query_params.get("outbound")) is not None:
            placed = outbound_calls(ctx).answer(outbound[:64], call_id)
            if placed is None:
                ctx.metrics.protocol_errors.labels(kind, "bad_token").inc()
                log.warning("%s answer for an unknown or used outbound token", kind)
                return reply(answer.refused)
            passed["outbound"] = placed.id
        ttl = carrier.setting(settings, "token_ttl_s")
        try:
            token = await issue_token(ctx, carrier.token_scope, call_id, ttl)
        except ClusterUnavailable:
            log.warning("%s answered busy: the cluster's Redis is unreachable", kind)
            return reply(answer.busy)
        if token is None:
            ctx.metrics.protocol_errors.labels(kind, "replayed_webhook").inc()
            log.warning("%s answer for call %r again after its stream began", kind, call_id)
            return reply(answer.refused)
        stream_url = media_stream_url(url, carrier.media_path)
        numbers = {
            k: _number(params.get(name, ""))
            for k, name in zip(("from", "to"), answer.numbers, strict=True)
        }
        return reply(answer.markup(stream_url, token, call_id, numbers | passed, settings))

    api.add_api_route(carrier.voice_path, answer_call, methods=list(answer.methods))
