"""The ConversationRelay message set, sans-I/O: what Sluice sends an agent
socket, and the checked parse of what the agent sends back.

Sluice plays Twilio's part: it sends `setup`, `prompt`, `dtmf`, `interrupt`
and `error`, and takes `text`, `play`, `sendDigits`, `language` and `end`,
with the fields Twilio documents for each
(https://www.twilio.com/docs/voice/conversationrelay/websocket-messages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_MESSAGE_BYTES = 64 * 1024
"""A text token is a few words; a message this large is not one."""
MAX_TOKEN_CHARS = 4096
MAX_DIGITS = 64
MAX_HANDOFF_CHARS = 8192
"""handoffData kept (for the log); the rest is cut, the `end` still taken."""
MAX_LOOP = 10
"""`play` with loop 0 means "repeat ~1000 times" at Twilio; here at most this."""
DIGITS = frozenset("0123456789*#ABCDabcdw")


class BadMessage(ValueError):
    """The agent sent something that is not a ConversationRelay message."""


@dataclass(frozen=True, slots=True)
class Text:
    token: str
    last: bool = False
    interruptible: bool = True
    """False: the caller's speech may not cut this reply ("none" or "dtmf")."""
    preemptible: bool = False
    """True: the next talk cycle's text may cut this one while it plays."""
    lang: str = ""


@dataclass(frozen=True, slots=True)
class Play:
    source: str
    loop: int = 1
    interruptible: bool = True
    preemptible: bool = False


@dataclass(frozen=True, slots=True)
class SendDigits:
    digits: str


@dataclass(frozen=True, slots=True)
class Language:
    tts: str = ""
    transcription: str = ""


@dataclass(frozen=True, slots=True)
class End:
    handoff: str = ""


AgentMessage = Text | Play | SendDigits | Language | End


# ---- what Sluice sends ------------------------------------------------------


def setup(
    session_id: str,
    call_sid: str,
    caller: str,
    callee: str,
    call_type: str,
    parameters: Mapping[str, str],
) -> str:
    return _dump(
        {
            "type": "setup",
            "sessionId": session_id,
            "accountSid": "",
            "parentCallSid": "",
            "callSid": call_sid,
            "from": caller,
            "to": callee,
            "forwardedFrom": "",
            "callType": call_type,
            "callerName": "",
            "direction": "inbound",
            "callStatus": "IN-PROGRESS",
            "customParameters": dict(parameters),
        }
    )


def prompt(text: str, lang: str, last: bool = True) -> str:
    return _dump({"type": "prompt", "voicePrompt": text, "lang": lang, "last": last})


def dtmf(digit: str) -> str:
    return _dump({"type": "dtmf", "digit": digit})


def interrupt(heard_text: str, heard_ms: int) -> str:
    return _dump(
        {
            "type": "interrupt",
            "utteranceUntilInterrupt": heard_text,
            "durationUntilInterruptMs": heard_ms,
        }
    )


def error(description: str) -> str:
    return _dump({"type": "error", "description": description})


def _dump(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


# ---- what the agent sends ---------------------------------------------------


def parse(raw: str | bytes) -> AgentMessage:
    """One message from the agent; raises BadMessage with a reason the agent
    is told in an `error` message."""
    if isinstance(raw, bytes):
        raise BadMessage("binary frames are not ConversationRelay messages")
    if len(raw) > MAX_MESSAGE_BYTES:
        raise BadMessage(f"message longer than {MAX_MESSAGE_BYTES} bytes")
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: "[[[[…" thousands deep
        raise BadMessage("not JSON") from None
    if not isinstance(message, dict):
        raise BadMessage("not a JSON object")
    kind = message.get("type")
    match kind:
        case "text":
            return Text(
                _string(message, "token", MAX_TOKEN_CHARS),
                _flag(message, "last", False),
                _interruptible(message),
                _flag(message, "preemptible", False),
                _string(message, "lang", 32, ""),
            )
        case "play":
            source = _string(message, "source", 2048)
            if not source.startswith(("http://", "https://")):
                raise BadMessage("'source' must be an http(s) URL")
            loop = message.get("loop", 1)
            if not isinstance(loop, int) or isinstance(loop, bool) or loop < 0:
                raise BadMessage("'loop' must be a whole number")
            return Play(
                source,
                MAX_LOOP if loop == 0 else min(loop, MAX_LOOP),
                _interruptible(message),
                _flag(message, "preemptible", False),
            )
        case "sendDigits":
            digits = _string(message, "digits", MAX_DIGITS)
            if not digits or not set(digits) <= DIGITS:
                raise BadMessage("'digits' must be 0-9, *, #, A-D or w")
            return SendDigits(digits)
        case "language":
            return Language(
                _string(message, "ttsLanguage", 32, ""),
                _string(message, "transcriptionLanguage", 32, ""),
            )
        case "end":
            handoff = message.get("handoffData", "")
            if not isinstance(handoff, str):
                handoff = json.dumps(handoff)  # some agents send an object, not its JSON
            return End(handoff[:MAX_HANDOFF_CHARS])  # only logged: a long one still ends
        case str():
            raise BadMessage(f"unknown type: {kind[:40]}")
        case _:
            raise BadMessage("'type' must be a string")


def _string(message: dict, key: str, limit: int, default: str | None = None) -> str:
    value = message.get(key, default)
    if not isinstance(value, str):
        raise BadMessage(f"'{key}' must be a string")
    if len(value) > limit:
        raise BadMessage(f"'{key}' longer than {limit} characters")
    return value


def _flag(message: dict, key: str, default: bool) -> bool:
    value = message.get(key, default)
    if not isinstance(value, bool):
        raise BadMessage(f"'{key}' must be true or false")
    return value


def _interruptible(message: dict) -> bool:
    """Whether the caller's speech may cut it. Twilio takes true/false or
    "any", "speech", "dtmf", "none"; Sluice's barge-in is by speech only."""
    value = message.get("interruptible", True)
    if isinstance(value, bool):
        return value
    if value in ("any", "speech"):
        return True
    if value in ("none", "dtmf"):
        return False
    raise BadMessage("'interruptible' must be true, false, any, speech, dtmf or none")
