"""Property-based fuzzing of every parser that reads peer input.

Each parser has one way to say no: ProtocolError (the media wires), a 4xx
status (the HTTP bodies), OfferRejected (SDP). Anything else escaping is a
crash a peer can trigger at will, so the properties here are mostly "only the
documented refusal, never another exception", plus the few guarantees the rest
of the gateway relies on after a successful parse.
"""

from __future__ import annotations

import asyncio
import atexit
import base64
import copy
import json
import os
import re
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aioice.ice
import httpx
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audio.frames import FRAME_BYTES
from gateway.config import Settings
from gateway.context import GatewayContext
from gateway.http_limits import BodyRefused, read_body, read_form, read_json_object
from transports.errors import ProtocolError
from transports.twilio import protocol as twilio
from transports.webrtc.aiortc_workarounds import advertise_host_addresses
from transports.webrtc.session import OfferRejected, WebRtcSession
from transports.webrtc.signalling import _count_candidates
from transports.websocket import protocol as browser

pytestmark = pytest.mark.timeout(120)

# database=None: no example database; every run starts fresh (and writes nothing here).
FAST = settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
SLOW = settings(  # each example builds a peer connection
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


# Hypothesis's pytest plugin caches constants of the code under test in ./.hypothesis
# while collecting, before any fixture runs: point it at a temporary directory
# (unless the runner chose one), so the work tree stays clean.
if not os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
    _HYPOTHESIS_HOME = tempfile.mkdtemp(prefix="sluice-hypothesis-")
    atexit.register(shutil.rmtree, _HYPOTHESIS_HOME, ignore_errors=True)
    set_hypothesis_home_dir(_HYPOTHESIS_HOME)


# ---- JSON material ---------------------------------------------------------

JSON_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),  # dumped as NaN / Infinity
    st.text(max_size=30),
    st.sampled_from(["", "0", "-1", "1.5", " 1", "²", "١٢", "999999999", "1000000000", "a" * 65]),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.text(max_size=12), inner, max_size=5),
    ),
    max_leaves=25,
)


@st.composite
def dumped(draw: st.DrawFn, value: Any) -> str:
    """JSON text of `value`, escaped or raw (raw puts surrogates and controls on the wire)."""
    return json.dumps(value, ensure_ascii=draw(st.booleans()))


def _paths(value: Any, prefix: tuple = ()) -> Iterator[tuple]:
    """Every place in a JSON value, the root included."""
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


@st.composite
def mutated(draw: st.DrawFn, bases: list[dict]) -> str:
    """A valid message with one to four fields replaced, deleted or added.

    Starting from valid messages gets past the tag dispatch into every field
    check; random JSON alone almost never names a known event.
    """
    message: Any = copy.deepcopy(draw(st.sampled_from(bases)))
    known = sorted(set().union(*(_keys(b) for b in bases)))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(list(_paths(message))))
        op = draw(st.sampled_from(["replace", "delete", "add"]))
        if not path:
            if op == "replace":
                message = draw(JSON_VALUES)
            continue
        parent = message
        for step in path[:-1]:
            parent = parent[step]
        target = parent[path[-1]]
        if op == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif op == "delete":
            del parent[path[-1]]
        elif isinstance(target, dict):
            target[draw(st.sampled_from(known) | st.text(max_size=12))] = draw(JSON_VALUES)
    return draw(dumped(message))


def _replaced(base: dict, path: tuple, value: Any) -> dict:
    """A copy of `base` with the field at `path` (not the root) set to `value`."""
    message = copy.deepcopy(base)
    parent: Any = message
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return message


def _single_replacements(base: dict) -> st.SearchStrategy[str]:
    """`base` with exactly one field (at any depth) replaced by arbitrary JSON."""
    paths = [p for p in _paths(base) if p]
    return st.tuples(st.sampled_from(paths), JSON_VALUES).flatmap(
        lambda pv: dumped(_replaced(base, *pv))
    )


def _every_field_set_to(bases: list[dict], value: Any) -> Iterator[str]:
    for base in bases:
        for path in [p for p in _paths(base) if p]:
            yield json.dumps(_replaced(base, path, value))


# Deep nesting and numbers Python's json turns into inf, or refuses (over 4300 digits).
HOSTILE_TEXTS = [
    "[" * 100_000,
    "{" * 100_000,
    "[" * 60_000,
    "[" * 3000 + "]" * 3000,
    '{"a":' * 3000 + "1" + "}" * 3000,
    "1e999",
    "-1e999",
    "9" * 5000,
    "NaN",
    "Infinity",
    "",
    "\ufeff{}",
    "\ud800",
    "[1,]",
]


def _hostile_values() -> list[Any]:
    """Field values that pass json.loads but are extreme: inf, 4000-digit ints."""
    return [float("inf"), float("-inf"), float("nan"), 10**4000, -(10**4000), 2**63, -1]


def _nested_text(depth: int) -> str:
    return "[" * depth + "]" * depth


def _check_nesting_sweep(parse: Callable[[str], object], templates: list[str]) -> None:
    """Nesting near the recursion limit, in every field a parser stringifies or reads.

    Where exactly json.loads gives up depends on the stack depth of the caller;
    a parser that stringifies the value (str(), repr) a frame or two deeper
    could overflow where json.loads did not, so every depth is tried.
    """
    for template in templates:
        for depth in range(0, 1100):
            try:
                parse(template.replace("@", _nested_text(depth)))
            except ProtocolError:
                pass


# ---- 1. Twilio Media Streams ---------------------------------------------

START: dict[str, Any] = {  # as tests/integration/test_twilio_bad_input.py START
    "event": "start",
    "sequenceNumber": "2",
    "streamSid": "MZbad",
    "start": {
        "accountSid": "AC1",
        "callSid": "CA1",
        "streamSid": "MZbad",
        "tracks": ["inbound"],
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    },
}
MEDIA: dict[str, Any] = {
    "event": "media",
    "sequenceNumber": "3",
    "streamSid": "MZbad",
    "media": {
        "track": "inbound",
        "chunk": "1",
        "timestamp": "5",
        "payload": base64.b64encode(b"\xff" * 160).decode(),
    },
}
TWILIO_BASES: list[dict[str, Any]] = [
    {"event": "connected", "protocol": "Call", "version": "1.0.0"},
    START,
    MEDIA,
    {"event": "mark", "sequenceNumber": "4", "streamSid": "MZbad", "mark": {"name": "turn-1"}},
    {
        "event": "dtmf",
        "sequenceNumber": "5",
        "streamSid": "MZbad",
        "dtmf": {"track": "inbound_track", "digit": "1"},
    },
    {
        "event": "stop",
        "sequenceNumber": "6",
        "streamSid": "MZbad",
        "stop": {"accountSid": "AC1", "callSid": "CA1"},
    },
]
SID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def twilio_parse(text: str) -> twilio.TwilioEvent | None:
    """parse(), holding it to its contract: an event with sane fields, or ProtocolError."""
    try:
        event = twilio.parse(text)
    except ProtocolError as exc:
        assert isinstance(exc.kind, str) and exc.kind
        return None
    assert isinstance(event, twilio.TwilioEvent)
    if isinstance(event, twilio.Start):
        # media_message() writes the sid into every reply frame unescaped: it must stay tame.
        assert SID.fullmatch(event.stream_sid), event.stream_sid
        assert event.call_sid == "" or SID.fullmatch(event.call_sid)
        assert len(event.custom_parameters) <= twilio.MAX_PARAMETERS
        assert all(
            isinstance(k, str) and isinstance(v, str) for k, v in event.custom_parameters.items()
        )
        assert (event.encoding, event.sample_rate, event.channels) == ("audio/x-mulaw", 8000, 1)
    elif isinstance(event, twilio.Media):
        assert isinstance(event.payload, bytes)
        size = len(event.payload)  # MAX_MEDIA_BYTES: "the largest inbound payload we accept"
        assert size <= twilio.MAX_MEDIA_BYTES, f"a media payload of {size} bytes"
        assert 0 <= event.chunk < 10**9 and 0 <= event.timestamp_ms < 10**9
        assert isinstance(event.track, str) and len(event.track) <= 16
    elif isinstance(event, twilio.DtmfDigit):
        assert len(event.digit) == 1 and event.digit in "0123456789*#ABCD"
    elif isinstance(event, twilio.MarkEcho):
        assert isinstance(event.name, str) and len(event.name) <= 64
    elif isinstance(event, twilio.Stop):
        assert isinstance(event.reason, str)
    return event


def test_the_twilio_seeds_are_valid() -> None:
    """Mutations start from valid messages, or they fuzz only the first check."""
    kinds = [type(twilio.parse(json.dumps(m))).__name__ for m in TWILIO_BASES]
    assert kinds == ["Connected", "Start", "Media", "MarkEcho", "DtmfDigit", "Stop"]


@FAST
@given(st.text(max_size=2000))
@example("[" * 100_000)
@example('{"event":"media","media":{"payload":"' + "A" * 70_000 + '"}}')
def test_twilio_arbitrary_text(text: str) -> None:
    twilio_parse(text)


@FAST
@given(JSON_VALUES.flatmap(dumped))
def test_twilio_arbitrary_json(text: str) -> None:
    twilio_parse(text)


@FAST
@given(
    st.dictionaries(st.text(max_size=12), JSON_VALUES, max_size=6),
    st.sampled_from([m["event"] for m in TWILIO_BASES] + ["clear", "", "START"]),
)
def test_twilio_arbitrary_objects_with_a_known_event(body: dict, event: str) -> None:
    twilio_parse(json.dumps({**body, "event": event}))


@FAST
@given(mutated(TWILIO_BASES))
def test_twilio_mutated_messages(text: str) -> None:
    twilio_parse(text)


@FAST
@given(_single_replacements(START))
def test_twilio_start_with_one_field_replaced(text: str) -> None:
    twilio_parse(text)


@dataclass(frozen=True)
class Payload:
    """A base64 media payload, described briefly: a failing example then prints as
    `Payload(head=b'', filler=8001, ...)`, not as 10,000 characters of base64."""

    head: bytes
    filler: int
    """Bytes of a fixed pattern after `head`: sizes near the limit without drawing them."""
    alphabet: str = "standard"
    strip_padding: bool = False
    junk: str = ""
    junk_at: int = 0

    def text(self) -> str:
        raw = self.head + (bytes(range(256)) * (self.filler // 256 + 1))[: self.filler]
        encode = base64.urlsafe_b64encode if self.alphabet == "urlsafe" else base64.b64encode
        encoded = encode(raw).decode()
        if self.strip_padding:
            encoded = encoded.rstrip("=")
        return encoded[: self.junk_at] + self.junk + encoded[self.junk_at :]


# Sizes around the one-second limit: a payload one byte over must not pass.
_PAYLOADS = st.one_of(
    st.builds(
        Payload,
        head=st.binary(max_size=200),
        filler=st.one_of(st.just(0), st.integers(7990, 8010), st.integers(0, 12_000)),
        alphabet=st.sampled_from(["standard", "urlsafe"]),
        strip_padding=st.booleans(),
        junk=st.one_of(st.just(""), st.text(max_size=3)),
        junk_at=st.integers(0, 50),
    ),
    st.text(max_size=100),
    JSON_VALUES,
)
_COUNTERS = st.one_of(
    st.integers(),
    st.integers(-2, 10**9 + 2),
    st.integers(0, 10**12).map(str),
    st.sampled_from(["", "-1", "+1", " 1", "1 ", "0x10", "1e3", "²", "١٢", "٣" * 9, "0" * 10]),
    st.floats(allow_nan=True, allow_infinity=True),
    JSON_VALUES,
)


class _Missing:
    """A field left out of the message (None is a JSON value of its own)."""

    def __repr__(self) -> str:
        return "MISSING"


_MISSING = _Missing()


@FAST
@given(
    payload=_PAYLOADS,
    chunk=st.one_of(st.just(_MISSING), _COUNTERS),
    timestamp=st.one_of(st.just(_MISSING), _COUNTERS),
    track=st.one_of(st.just(_MISSING), JSON_VALUES),
)
@example(payload=Payload(head=b"", filler=8001), chunk="1", timestamp="1", track="in")
def test_twilio_media_fields(payload: Any, chunk: Any, timestamp: Any, track: Any) -> None:
    if isinstance(payload, Payload):
        payload = payload.text()
    media = {"payload": payload, "chunk": chunk, "timestamp": timestamp, "track": track}
    message = {
        "event": "media",
        "streamSid": "MZbad",
        "media": {k: v for k, v in media.items() if v is not _MISSING},
    }
    twilio_parse(json.dumps(message))


@FAST
@given(
    name=st.one_of(st.text(max_size=80), JSON_VALUES),
    digit=st.one_of(st.text(max_size=3), JSON_VALUES),
    reason=JSON_VALUES,
    protocol=JSON_VALUES,
)
def test_twilio_mark_dtmf_stop_connected_fields(
    name: Any, digit: Any, reason: Any, protocol: Any
) -> None:
    twilio_parse(json.dumps({"event": "mark", "mark": {"name": name}}))
    twilio_parse(json.dumps({"event": "dtmf", "dtmf": {"digit": digit}}))
    twilio_parse(json.dumps({"event": "stop", "stop": {"reason": reason}}))
    twilio_parse(json.dumps({"event": "stop", "stop": reason}))
    twilio_parse(json.dumps({"event": "connected", "protocol": protocol}))


def test_twilio_deep_nesting_and_huge_numbers() -> None:
    for text in HOSTILE_TEXTS:
        assert twilio_parse(text) is None, text[:40]
    # Numbers in the numeric fields, as literal JSON text (json.dumps refuses 5000 digits).
    for number in ["1e999", "-1e999", "9" * 5000, "9" * 4000, "1" + "0" * 300, "-0", "1.0"]:
        for template in [
            '{"event":"media","media":{"payload":"","chunk":@}}',
            '{"event":"media","media":{"payload":"","timestamp":@}}',
            '{"event":"start","start":{"streamSid":"MZ1","mediaFormat":{"sampleRate":@}}}',
            '{"event":"start","start":{"streamSid":"MZ1","mediaFormat":{"channels":@}}}',
            '{"event":@}',
            '{"event":"connected","protocol":@}',
            '{"event":"media","media":{"payload":"","track":@}}',
        ]:
            twilio_parse(template.replace("@", number))
    for value in _hostile_values():
        for text in _every_field_set_to(TWILIO_BASES, value):
            twilio_parse(text)


def test_twilio_nesting_near_the_recursion_limit() -> None:
    _check_nesting_sweep(
        twilio_parse,
        [
            "@",
            '{"event":@}',
            '{"event":"connected","protocol":@}',
            '{"event":"media","media":{"payload":"","track":@}}',
            '{"event":"stop","stop":{"reason":@}}',
            '{"event":"start","start":{"streamSid":"MZ1","customParameters":@}}',
        ],
    )


# ---- 2. Browser protocol (sluice.browser) ----------------------------------

HELLO: dict[str, Any] = {
    "type": "hello",
    "protocol": "sluice.browser",
    "version": 1,
    "token": "",
    "window_ms": 800,
    "client": {"transport": "x"},
}
BROWSER_BASES: list[dict[str, Any]] = [
    HELLO,
    {"type": "grant", "ms": 200, "epoch": 1},
    {"type": "played", "turn": 3, "position_ms": 1200},
    {"type": "ping", "t": 12.5},
    {"type": "bye"},
]


def browser_parse(text: str) -> browser.ClientMessage | None:
    try:
        message = browser.parse_text(text)
    except ProtocolError as exc:
        assert isinstance(exc.kind, str) and exc.kind
        return None

    def whole(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    if isinstance(message, browser.Hello):
        assert message.version == browser.VERSION
        assert isinstance(message.token, str) and whole(message.window_ms)
        assert isinstance(message.client_transport, str) and len(message.client_transport) <= 40
    elif isinstance(message, browser.GrantMsg):
        assert whole(message.ms) and whole(message.epoch)
    elif isinstance(message, browser.Played):
        assert whole(message.turn) and whole(message.position_ms)
    elif isinstance(message, browser.Ping):
        assert isinstance(message.t, float)
    else:
        assert isinstance(message, browser.Bye)
    return message


def test_the_browser_seeds_are_valid() -> None:
    kinds = [type(browser.parse_text(json.dumps(m))).__name__ for m in BROWSER_BASES]
    assert kinds == ["Hello", "GrantMsg", "Played", "Ping", "Bye"]


@FAST
@given(st.text(max_size=2000))
@example("[" * 100_000)
def test_browser_arbitrary_text(text: str) -> None:
    browser_parse(text)


@FAST
@given(JSON_VALUES.flatmap(dumped))
def test_browser_arbitrary_json(text: str) -> None:
    browser_parse(text)


@FAST
@given(mutated(BROWSER_BASES))
def test_browser_mutated_messages(text: str) -> None:
    browser_parse(text)


@FAST
@given(st.sampled_from(BROWSER_BASES).flatmap(_single_replacements))
def test_browser_messages_with_one_field_replaced(text: str) -> None:
    browser_parse(text)


def test_browser_deep_nesting_and_huge_numbers() -> None:
    for text in HOSTILE_TEXTS:
        assert browser_parse(text) is None, text[:40]
    for number in ["1e999", "-1e999", "9" * 5000, "9" * 4000, "1" + "0" * 400, "-0"]:
        for template in [
            '{"type":"ping","t":@}',
            '{"type":"grant","ms":@,"epoch":1}',
            '{"type":"played","turn":1,"position_ms":@}',
            '{"type":"hello","protocol":"sluice.browser","version":@,"window_ms":1}',
            '{"type":"hello","protocol":"sluice.browser","version":1,"window_ms":@}',
            '{"type":@}',
        ]:
            browser_parse(template.replace("@", number))
    for value in _hostile_values():
        for text in _every_field_set_to(BROWSER_BASES, value):
            browser_parse(text)


def test_browser_nesting_near_the_recursion_limit() -> None:
    _check_nesting_sweep(
        browser_parse,
        [
            "@",
            '{"type":@}',
            '{"type":"hello","protocol":"sluice.browser","version":1,'
            '"window_ms":1,"client":{"transport":@}}',
            '{"type":"hello","protocol":@}',
        ],
    )


@FAST
@given(
    st.one_of(
        st.binary(max_size=2 * FRAME_BYTES),
        st.integers(FRAME_BYTES - 2, FRAME_BYTES + 2).map(bytes),
    )
)
def test_browser_audio_frames(frame: bytes) -> None:
    try:
        checked = browser.check_audio(frame)
    except ProtocolError as exc:
        assert exc.kind == "bad_frame" and len(frame) != FRAME_BYTES
    else:
        assert checked == frame and len(frame) == FRAME_BYTES


# ---- 3. Webhook and offer bodies (gateway.http_limits) ---------------------

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
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop for the module's async examples (a loop per example costs more
    than the parsers), closed with nothing left running."""
    loop = asyncio.new_event_loop()
    yield loop

    async def cancel_leftovers() -> None:
        leftovers = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in leftovers:
            task.cancel()
        await asyncio.gather(*leftovers, return_exceptions=True)

    loop.run_until_complete(cancel_leftovers())
    loop.run_until_complete(loop.shutdown_asyncgens())
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()


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


# ---- 4. WebRTC offers --------------------------------------------------------

SDP_ATTRIBUTES = [
    "candidate",
    "end-of-candidates",
    "rtpmap",
    "fmtp",
    "rtcp-fb",
    "extmap",
    "ssrc",
    "ssrc-group",
    "msid",
    "msid-semantic",
    "mid",
    "group",
    "setup",
    "fingerprint",
    "ice-ufrag",
    "ice-pwd",
    "ice-options",
    "ice-lite",
    "rtcp",
    "rtcp-mux",
    "sendrecv",
    "recvonly",
    "sendonly",
    "inactive",
    "sctpmap",
    "sctp-port",
    "max-message-size",
]
_TOKENS = st.one_of(
    st.integers().map(str),
    st.integers(-1, 70_000).map(str),
    st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=12),
    st.sampled_from(["udp", "tcp", "typ", "host", "srflx", "relay", "prflx", "raddr", "rport"]),
    st.sampled_from(["127.0.0.1", "::1", "opus/48000/2", "sha-256", "actpass", "IN", "IP4"]),
)
SDP_VALUES = st.one_of(
    st.text(max_size=60),
    st.lists(_TOKENS, max_size=10).map(" ".join),
    st.sampled_from(["", " ", ":", "-1", "256", "99999999999999999999", "0", "nan"]),
)


def _loopback_only(sdp: str) -> str:
    """Points every remote ICE candidate at 127.0.0.1.

    aiortc runs connectivity checks against the offer's candidates (and resolves
    `.local` ones by multicast DNS); a fuzzed offer must not aim them off this
    machine. The lines are split as aiortc's own SDP parser splits them.
    """
    lines = sdp.splitlines()
    changed = False
    for i, line in enumerate(lines):
        if not (line.startswith("a=") and ":" in line):
            continue
        attr, value = line[2:].split(":", 1)
        bits = value.split()
        if attr == "candidate" and len(bits) >= 5 and bits[4] != "127.0.0.1":
            bits[4] = "127.0.0.1"
            lines[i] = "a=candidate:" + " ".join(bits)
            changed = True
    return "\r\n".join(lines) + "\r\n" if changed else sdp


def _aiortc_candidates(sdp: str) -> int:
    """The candidate lines aiortc would act on: `a=candidate:` in a media section."""
    count, in_media = 0, False
    for line in sdp.splitlines():
        in_media = in_media or line.startswith("m=")
        if in_media and line.startswith("a=") and line[2:].split(":", 1)[0] == "candidate":
            count += ":" in line
    return count


@st.composite
def mutated_sdp(draw: st.DrawFn, offers: list[str]) -> str:
    """A real offer with lines deleted, duplicated, swapped, rewritten or added, maybe cut short."""
    lines = draw(st.sampled_from(offers)).splitlines()
    for _ in range(draw(st.integers(1, 5))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "rewrite", "insert"]))
        if not lines:
            op = "insert"
        i = draw(st.integers(0, max(len(lines) - 1, 0)))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "rewrite":
            line = lines[i]
            keep = (
                line[: line.index(":") + 1] if line.startswith("a=") and ":" in line else line[:2]
            )
            lines[i] = keep + draw(SDP_VALUES)
        else:
            attr = draw(st.sampled_from(SDP_ATTRIBUTES) | st.text(max_size=10))
            value = draw(st.none() | SDP_VALUES)
            lines.insert(i, f"a={attr}" if value is None else f"a={attr}:{value}")
    text = draw(st.sampled_from(["\r\n", "\n"])).join(lines) + "\r\n"
    if draw(st.booleans()):
        text = text[: draw(st.integers(0, len(text)))]
    return text


@pytest.fixture(scope="module")
def loopback_ice() -> Iterator[None]:
    """Host candidates on 127.0.0.1 only, for offers and answers alike; restored after."""
    saved = aioice.ice.get_host_addresses
    advertise_host_addresses(["127.0.0.1"])
    yield
    aioice.ice.get_host_addresses = saved


@pytest.fixture(scope="module")
def offers(loop: asyncio.AbstractEventLoop, loopback_ice: None) -> list[str]:
    """Two real aiortc offers: audio only, and audio with the page's data channel."""

    async def offer(channel: bool) -> str:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        try:
            pc.addTransceiver("audio")
            if channel:
                pc.createDataChannel("events")
            await pc.setLocalDescription(await pc.createOffer())
            return pc.localDescription.sdp
        finally:
            await pc.close()

    made = [loop.run_until_complete(offer(False)), loop.run_until_complete(offer(True))]
    assert all("a=candidate:" in sdp and "127.0.0.1" in sdp for sdp in made)
    return made


@pytest.fixture(scope="module")
def webrtc_ctx() -> GatewayContext:
    # The session reads only settings, metrics and clock; no models are needed.
    settings = Settings(webrtc_stun_url="", webrtc_turn_url="")
    return GatewayContext(settings=settings, services=None)  # type: ignore[arg-type]


def _answer(loop: asyncio.AbstractEventLoop, ctx: GatewayContext, sdp: str) -> str | None:
    """answer() held to its contract: an SDP answer, or OfferRejected; always closed."""

    async def run() -> str | None:
        session = WebRtcSession("rtc-fuzz", ctx)
        try:
            return await session.answer(_loopback_only(sdp))
        except OfferRejected:
            return None
        finally:
            # Must not raise either: signalling closes every rejected session this way.
            await session.close()

    answer = loop.run_until_complete(run())
    assert answer is None or (isinstance(answer, str) and answer.startswith("v=0"))
    return answer


def test_the_webrtc_seeds_are_answered(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, offers: list[str]
) -> None:
    for sdp in offers:
        answer = _answer(loop, webrtc_ctx, sdp)
        assert answer is not None and "m=audio" in answer


def test_webrtc_a_bundle_naming_no_section(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, offers: list[str]
) -> None:
    """Found by the fuzzing below: a BUNDLE group whose first mid names no media
    section leaves aiortc's transports unset. Pinned here so it fails every run."""
    for sdp in offers:
        assert "a=group:BUNDLE 0" in sdp
        _answer(loop, webrtc_ctx, sdp.replace("a=group:BUNDLE 0", "a=group:BUNDLE x 0"))


@SLOW
@given(data=st.data())
def test_webrtc_mutated_offers(
    loop: asyncio.AbstractEventLoop,
    webrtc_ctx: GatewayContext,
    offers: list[str],
    data: st.DataObject,
) -> None:
    _answer(loop, webrtc_ctx, data.draw(mutated_sdp(offers)))


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)
@given(st.text(max_size=500))
@example("")
@example("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 999\r\n")
def test_webrtc_arbitrary_text(
    loop: asyncio.AbstractEventLoop, webrtc_ctx: GatewayContext, loopback_ice: None, sdp: str
) -> None:
    _answer(loop, webrtc_ctx, sdp)


@FAST
@given(data=st.data())
def test_count_candidates(offers: list[str], data: st.DataObject) -> None:
    """The candidate limit is checked before answering, so it must count at least every
    candidate aiortc would go on to probe, however the lines are broken."""
    sdp = data.draw(st.one_of(mutated_sdp(offers), st.text(max_size=500)))
    count = _count_candidates(sdp)
    assert isinstance(count, int) and 0 <= count <= len(sdp.splitlines())
    assert count >= _aiortc_candidates(sdp)
