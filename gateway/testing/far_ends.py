"""Each carrier's side of its media stream, as its documentation describes it,
for the fake carrier in carrier_caller.py: the first messages, the caller's
audio, what the gateway's messages mean, the acknowledgement it returns once
playout reaches a point, and what a clear does to points still queued.

Written from the carriers' documentation (see docs/guides/carriers/), not
from Sluice's parsers: a test passes only if both sides read the protocol
the same way.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import dataclass, field

from gateway.audio.wire_format import WireFormat

Message = str | bytes


@dataclass
class Got:
    """What one gateway message asked of the far end."""

    audio: bytes = b""
    point: str | None = None
    clear: bool = False
    problem: str = ""
    """A message the carrier would refuse or mishandle, in its own words."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class FarEnd:
    """The parts every carrier shares; subclasses speak one protocol."""

    token: str | None = None
    parameters: dict[str, str] = field(default_factory=dict)
    """What the gateway's answer asked the carrier to pass back (besides the token)."""
    call_id: str = field(default_factory=lambda: "call-" + secrets.token_hex(8))
    stream_id: str = field(default_factory=lambda: "stream-" + secrets.token_hex(8))
    wire: WireFormat = field(default_factory=lambda: WireFormat("pcmu", 8000))
    echo_on_clear: bool = True
    """Whether points queued at a clear are acknowledged (Twilio) or dropped (Plivo)."""
    queue_frames: int = 0
    """A bounded queue that refuses audio past it (Asterisk), in 20 ms frames; 0: none."""
    url_query: str = ""
    seq: int = 0

    @property
    def echoed(self) -> dict[str, str]:
        """The answer's parameters, as the carrier hands them back on the stream."""
        return {**self.parameters, **({"sluice_token": self.token} if self.token else {})}

    def opening(self) -> list[Message]:
        raise NotImplementedError

    def mic(self, payload: bytes) -> Message:
        raise NotImplementedError

    def read(self, message: Message) -> Got:
        raise NotImplementedError

    def ack(self, name: str) -> Message:
        raise NotImplementedError

    def cleared(self) -> Message | None:
        return None

    def closing(self) -> Message | None:
        return None

    def _next(self) -> int:
        self.seq += 1
        return self.seq


def _json(message: Message) -> dict:
    if isinstance(message, bytes):
        return {"event": "<binary>"}
    value = json.loads(message)
    return value if isinstance(value, dict) else {}


@dataclass
class TwilioFarEnd(FarEnd):
    """Twilio Media Streams; SignalWire speaks the same protocol."""

    def opening(self) -> list[Message]:
        start = {
            "accountSid": "AC" + "0" * 32, "callSid": self.call_id, "streamSid": self.stream_id,
            "tracks": ["inbound"],
            "customParameters": self.echoed,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }  # fmt: skip
        return [
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequenceNumber": "1", "streamSid": self.stream_id,
                        "start": start}),
        ]  # fmt: skip

    def mic(self, payload: bytes) -> Message:
        n = self._next()
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20),
                 "payload": _b64(payload)}  # fmt: skip
        return json.dumps({"event": "media", "streamSid": self.stream_id, "media": media})

    def read(self, message: Message) -> Got:
        m = _json(message)
        if m.get("streamSid") != self.stream_id:
            return Got(problem=f"streamSid {m.get('streamSid')!r}")
        return _events(m, "media", "mark", "clear")

    def ack(self, name: str) -> Message:
        return json.dumps({"event": "mark", "streamSid": self.stream_id, "mark": {"name": name}})

    def closing(self) -> Message:
        return json.dumps({"event": "stop", "stop": {"callSid": self.call_id}})


def _events(m: dict, media: str, mark: str, clear: str) -> Got:
    event = m.get("event")
    if event == media:
        return Got(audio=base64.b64decode(m["media"]["payload"]))
    if event == mark:
        return Got(point=m["mark"]["name"])
    if event == clear:
        return Got(clear=True)
    return Got(problem=f"unexpected event {event!r}")


@dataclass
class TelnyxFarEnd(FarEnd):
    def opening(self) -> list[Message]:
        start = {
            "user_id": "u-1", "call_control_id": self.call_id, "call_session_id": "s-1",
            "from": "+15550000001", "to": "+15550000002", "client_state": "",
            "custom_parameters": self.echoed,
            "media_format": {"encoding": "PCMU", "sample_rate": 8000, "channels": 1},
        }  # fmt: skip
        return [
            json.dumps({"event": "connected", "version": "1.0.0"}),
            json.dumps({"event": "start", "sequence_number": "1", "start": start,
                        "stream_id": self.stream_id}),
        ]  # fmt: skip

    def mic(self, payload: bytes) -> Message:
        n = self._next()
        media = {"track": "inbound", "chunk": str(n), "timestamp": str(n * 20),
                 "payload": _b64(payload)}  # fmt: skip
        return json.dumps({"event": "media", "sequence_number": str(n + 1), "media": media,
                           "stream_id": self.stream_id})  # fmt: skip

    def read(self, message: Message) -> Got:
        return _events(_json(message), "media", "mark", "clear")

    def ack(self, name: str) -> Message:
        return json.dumps({"event": "mark", "sequence_number": str(self._next()),
                           "stream_id": self.stream_id, "mark": {"name": name}})  # fmt: skip

    def closing(self) -> Message:
        return json.dumps({"event": "stop", "stream_id": self.stream_id,
                           "stop": {"call_control_id": self.call_id}})  # fmt: skip


@dataclass
class PlivoFarEnd(FarEnd):
    echo_on_clear: bool = False  # a checkpoint is acknowledged only if what precedes it played

    def opening(self) -> list[Message]:
        start = {"callId": self.call_id, "streamId": self.stream_id, "accountId": "MA1",
                 "tracks": ["inbound"],
                 "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}  # fmt: skip
        headers = ",".join(f"{k}={v}" for k, v in self.echoed.items())
        return [json.dumps({"event": "start", "sequenceNumber": 0, "start": start,
                            "extra_headers": headers})]  # fmt: skip

    def mic(self, payload: bytes) -> Message:
        n = self._next()
        media = {"track": "inbound", "timestamp": str(n * 20), "chunk": n,
                 "payload": _b64(payload)}  # fmt: skip
        return json.dumps({"event": "media", "sequenceNumber": n, "streamId": self.stream_id,
                           "media": media})  # fmt: skip

    def read(self, message: Message) -> Got:
        m = _json(message)
        event = m.get("event")
        if event == "playAudio":
            media = m["media"]
            if media.get("contentType") != "audio/x-mulaw" or media.get("sampleRate") != 8000:
                return Got(problem=f"playAudio in {media.get('contentType')!r}")
            return Got(audio=base64.b64decode(media["payload"]))
        if m.get("streamId") != self.stream_id:
            return Got(problem=f"{event} for stream {m.get('streamId')!r}")
        if event == "checkpoint":
            return Got(point=m["name"])
        if event == "clearAudio":
            return Got(clear=True)
        return Got(problem=f"unexpected event {event!r}")

    def ack(self, name: str) -> Message:
        return json.dumps({"event": "playedStream", "sequenceNumber": self._next(),
                           "streamId": self.stream_id, "name": name})  # fmt: skip

    def cleared(self) -> Message:
        return json.dumps({"event": "clearedAudio", "sequenceNumber": self._next(),
                           "streamId": self.stream_id})  # fmt: skip


@dataclass
class VonageFarEnd(FarEnd):
    wire: WireFormat = field(default_factory=lambda: WireFormat("l16", 16000))
    echo_on_clear: bool = False

    def opening(self) -> list[Message]:
        connected = {"event": "websocket:connected", "content-type": "audio/l16;rate=16000",
                     "call_uuid": self.call_id, **self.echoed}  # fmt: skip
        return [json.dumps(connected)]

    def mic(self, payload: bytes) -> Message:
        return payload

    def read(self, message: Message) -> Got:
        if isinstance(message, bytes):
            if len(message) != self.wire.frame_bytes:
                return Got(audio=message, problem=f"a binary message of {len(message)} bytes")
            return Got(audio=message)
        m = _json(message)
        if m.get("action") == "notify":
            return Got(point=m["payload"]["name"])
        if m.get("action") == "clear":
            return Got(clear=True)
        return Got(problem=f"unexpected action {m.get('action')!r}")

    def ack(self, name: str) -> Message:
        return json.dumps({"event": "websocket:notify", "payload": {"name": name}})

    def cleared(self) -> Message:
        return json.dumps({"event": "websocket:cleared"})


@dataclass
class ExotelFarEnd(FarEnd):
    wire: WireFormat = field(default_factory=lambda: WireFormat("l16", 8000))

    def opening(self) -> list[Message]:
        start = {"stream_sid": self.stream_id, "call_sid": self.call_id, "account_sid": "ac1",
                 "from": "09000000001", "to": "09000000002",
                 "custom_parameters": self.parameters,
                 "media_format": {"encoding": "audio/x-raw", "sample_rate": "8000",
                                  "bit_rate": "16"}}  # fmt: skip
        return [
            json.dumps({"event": "connected"}),
            json.dumps({"event": "start", "sequence_number": 1, "stream_sid": self.stream_id,
                        "start": start}),
        ]  # fmt: skip

    def mic(self, payload: bytes) -> Message:
        n = self._next()
        media = {"chunk": n, "timestamp": str(n * 20), "payload": _b64(payload)}
        return json.dumps({"event": "media", "sequence_number": n + 1,
                           "stream_sid": self.stream_id, "media": media})  # fmt: skip

    short: int = 0
    """The size of the last message if under 3.2 KB: only the last before a mark may be."""

    def read(self, message: Message) -> Got:
        got = _events(_json(message), "media", "mark", "clear")
        size = len(got.audio)
        if got.audio and (size % 320 or size > 100_000):
            got.problem = f"a media message of {size} bytes"
        elif got.audio and self.short:
            got.problem = f"a media message of {self.short} bytes, under 3.2 KB, mid-turn"
        if got.audio or got.point is not None or got.clear:
            self.short = size if got.audio and size < 3200 else 0
        return got

    def ack(self, name: str) -> Message:
        return json.dumps({"event": "mark", "stream_sid": self.stream_id, "mark": {"name": name}})

    def closing(self) -> Message:
        return json.dumps({"event": "stop", "stream_sid": self.stream_id,
                           "stop": {"call_sid": self.call_id, "reason": "callended"}})  # fmt: skip


@dataclass
class AsteriskFarEnd(FarEnd):
    echo_on_clear: bool = False  # FLUSH_MEDIA drops queued marks without a word
    queue_frames: int = 1000

    def opening(self) -> list[Message]:
        return [
            f"MEDIA_START connection_id:{self.stream_id} channel:PJSIP/alice-00000001 "
            f"channel_id:{self.call_id} format:ulaw optimal_frame_size:160 ptime:20"
        ]

    def mic(self, payload: bytes) -> Message:
        return payload

    def read(self, message: Message) -> Got:
        if isinstance(message, bytes):
            if len(message) % 160 or len(message) > 65_500:
                return Got(audio=message, problem=f"a binary message of {len(message)} bytes")
            return Got(audio=message)
        if len(message) > 128:
            return Got(problem="a command over 128 bytes, which Asterisk ignores")
        name, _, rest = message.partition(" ")
        if name == "MARK_MEDIA":
            return Got(point=rest.strip())
        if name == "FLUSH_MEDIA":
            return Got(clear=True)
        return Got(problem=f"unexpected command {name!r}")

    def ack(self, name: str) -> Message:
        return f"MEDIA_MARK_PROCESSED {name}"

    def watermark(self, full: bool) -> Message:
        return "MEDIA_XOFF" if full else "MEDIA_XON"


FAR_ENDS: dict[str, type[FarEnd]] = {
    "twilio": TwilioFarEnd,
    "signalwire": TwilioFarEnd,
    "telnyx": TelnyxFarEnd,
    "plivo": PlivoFarEnd,
    "vonage": VonageFarEnd,
    "exotel": ExotelFarEnd,
    "asterisk": AsteriskFarEnd,
}
