"""The ConversationRelay messages: what Sluice sends, and the checked parse of
what an agent socket sends back (anything else is a BadMessage, never a crash)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.relay import protocol
from gateway.relay.protocol import BadMessage, End, Language, Play, SendDigits, Text

pytestmark = pytest.mark.timeout(30)


def test_setup_carries_twilio_s_fields() -> None:
    setup = json.loads(protocol.setup("c1", "CA1", "+15550001", "+15550002", "PSTN", {"a": "b"}))
    assert setup["type"] == "setup"
    assert (setup["sessionId"], setup["callSid"], setup["from"], setup["to"]) == (
        "c1", "CA1", "+15550001", "+15550002",
    )  # fmt: skip
    assert setup["customParameters"] == {"a": "b"} and setup["direction"] == "inbound"
    assert {"accountSid", "callType", "callStatus", "callerName", "forwardedFrom"} <= set(setup)


def test_prompt_dtmf_interrupt_and_error() -> None:
    assert json.loads(protocol.prompt("hi", "en-US")) == {
        "type": "prompt", "voicePrompt": "hi", "lang": "en-US", "last": True,
    }  # fmt: skip
    assert json.loads(protocol.dtmf("5")) == {"type": "dtmf", "digit": "5"}
    assert json.loads(protocol.interrupt("Hello there", 820)) == {
        "type": "interrupt", "utteranceUntilInterrupt": "Hello there",
        "durationUntilInterruptMs": 820,
    }  # fmt: skip
    assert json.loads(protocol.error("x"))["description"] == "x"


@pytest.mark.parametrize(
    "message,parsed",
    [
        ({"type": "text", "token": "Hi", "last": False}, Text("Hi")),
        ({"type": "text", "token": "", "last": True}, Text("", last=True)),
        ({"type": "text", "token": "a", "interruptible": False}, Text("a", interruptible=False)),
        ({"type": "text", "token": "a", "interruptible": "none"}, Text("a", interruptible=False)),
        ({"type": "text", "token": "a", "interruptible": "dtmf"}, Text("a", interruptible=False)),
        ({"type": "text", "token": "a", "interruptible": "speech"}, Text("a")),
        ({"type": "text", "token": "a", "preemptible": True}, Text("a", preemptible=True)),
        ({"type": "play", "source": "https://x/a.mp3"}, Play("https://x/a.mp3")),
        ({"type": "play", "source": "https://x/a.wav", "loop": 0}, Play("https://x/a.wav", 10)),
        ({"type": "play", "source": "http://x/a.wav", "loop": 3}, Play("http://x/a.wav", 3)),
        ({"type": "sendDigits", "digits": "12w#"}, SendDigits("12w#")),
        ({"type": "language", "ttsLanguage": "es-ES"}, Language("es-ES", "")),
        ({"type": "end", "handoffData": "{\"a\":1}"}, End("{\"a\":1}")),
        ({"type": "end", "handoffData": {"a": 1}}, End("{\"a\": 1}")),
        ({"type": "end"}, End("")),
    ],
)
def test_what_an_agent_sends_is_parsed(message: dict, parsed: object) -> None:
    assert protocol.parse(json.dumps(message)) == parsed


@pytest.mark.parametrize(
    "raw,reason",
    [
        (b"\x00\x01", "binary"),
        ("{not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        ('{"type": "shout"}', "unknown type: shout"),
        ('{"type": 5}', "'type' must be a string"),
        ('{"type": "text"}', "'token' must be a string"),
        ('{"type": "text", "token": "a", "last": "yes"}', "'last' must be true or false"),
        ('{"type": "text", "token": "a", "interruptible": "maybe"}', "'interruptible'"),
        ('{"type": "play", "source": "file:///etc/passwd"}', "http(s) URL"),
        ('{"type": "play", "source": "https://x", "loop": -1}', "'loop'"),
        ('{"type": "sendDigits", "digits": "12;rm"}', "'digits'"),
        ('{"type": "sendDigits", "digits": ""}', "'digits'"),
        (json.dumps({"type": "text", "token": "a" * 5000}), "longer than"),
        ("x" * (protocol.MAX_MESSAGE_BYTES + 1), "longer than"),
    ],
)
def test_what_is_not_a_message_is_refused_with_a_reason(raw: str | bytes, reason: str) -> None:
    with pytest.raises(BadMessage, match=None) as caught:
        protocol.parse(raw)
    assert reason in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "token", "last", "source", "loop", "digits",
                             "interruptible", "preemptible", "handoffData", "x"]),
            inner, max_size=5),  # fmt: skip
        max_leaves=10,
    ),
    st.sampled_from(["text", "play", "sendDigits", "language", "end", "setup", "", None]),
)
def test_any_json_is_a_message_or_a_bad_message(value: object, kind: str | None) -> None:
    if isinstance(value, dict) and kind is not None:
        value = {**value, "type": kind}
    try:
        protocol.parse(json.dumps(value))
    except BadMessage:
        pass
