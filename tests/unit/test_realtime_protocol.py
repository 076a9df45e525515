"""The sans-I/O OpenAI Realtime (GA) state machine: server events in as JSON text,
ModelEvents out, and the client events a faithful barge-in needs."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from gateway.voice.realtime_events import (
    BadEvent,
    ModelAudio,
    ModelError,
    ModelEvent,
    ModelHeardCaller,
    ModelReplyDone,
    ModelSpeechStarted,
    ModelSpeechStopped,
    ModelText,
    ModelToolCall,
    ModelTranscript,
)
from gateway.voice.realtime_protocol import MAX_TRANSCRIPT_CHARS, PCM, PCMU, RealtimeProtocol
from tests.fakes import realtime_support as rs

pytestmark = pytest.mark.timeout(5)

PCMU_BYTES_PER_MS = 8
PCM_BYTES_PER_MS = 48


# ---- server events, shaped as the fake (and the GA server) sends them ----------


def event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, **fields})


def created(response_id: str) -> str:
    response = {"object": "realtime.response", "id": response_id, "status": "in_progress"}
    return event("response.created", response=response)


def delta(response_id: str, item_id: str, audio: bytes) -> str:
    return event(
        "response.output_audio.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=base64.b64encode(audio).decode(),
    )


def transcript_delta(response_id: str, item_id: str, text: str) -> str:
    return event(
        "response.output_audio_transcript.delta",
        response_id=response_id,
        item_id=item_id,
        output_index=0,
        content_index=0,
        delta=text,
    )


def done(
    response_id: str, status: str = "completed", output: list[dict[str, Any]] | None = None
) -> str:
    response = {
        "object": "realtime.response",
        "id": response_id,
        "status": status,
        "output": output if output is not None else [],
    }
    return event("response.done", response=response)


def tool_args_done(response_id: str, call_id: str, name: str, arguments: str) -> str:
    return event(
        "response.function_call_arguments.done",
        response_id=response_id,
        item_id="item_fc",
        output_index=0,
        call_id=call_id,
        name=name,
        arguments=arguments,
    )


def function_call_item(call_id: str = "call_1") -> dict[str, Any]:
    return {
        "id": "item_fc",
        "object": "realtime.item",
        "type": "function_call",
        "status": "completed",
        "name": "lookup",
        "call_id": call_id,
        "arguments": "{}",
    }


def message_item() -> dict[str, Any]:
    return {
        "id": "item_msg",
        "object": "realtime.item",
        "type": "message",
        "role": "assistant",
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": "hi"}],
    }


def pcmu_ms(ms: int) -> bytes:
    return b"\xff" * (ms * PCMU_BYTES_PER_MS)


def pcm_ms(ms: int) -> bytes:
    return b"\x00" * (ms * PCM_BYTES_PER_MS)


def feed(protocol: RealtimeProtocol, *messages: str) -> list[ModelEvent]:
    out: list[ModelEvent] = []
    for message in messages:
        out += protocol.receive(message)
    return out


def without_id(event: dict[str, Any] | None) -> dict[str, Any]:
    """A client event without the event_id that lets errors name it."""
    assert event is not None
    return {k: v for k, v in event.items() if k != "event_id"}


def speaking(protocol: RealtimeProtocol, turn_id: int, response_id: str) -> None:
    """Ask for a response for `turn_id`, and have the server start it."""
    protocol.create_response(turn_id)
    assert protocol.receive(created(response_id)) == []


def truncates(events: list[dict[str, Any]]) -> dict[str, int]:
    return {
        e["item_id"]: e["audio_end_ms"] for e in events if e["type"] == "conversation.item.truncate"
    }


def cancels(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type"] == "response.cancel"]


# ---- session.update -------------------------------------------------------------


TOOLS = [
    {
        "type": "function",
        "name": "lookup",
        "description": "Look something up.",
        "parameters": {"type": "object", "properties": {}, "required": []},
    }
]


def test_session_update_pcmu_is_the_ga_shape_and_the_fake_accepts_it() -> None:
    update = RealtimeProtocol(PCMU).session_update("Be brief.", "marin", [])
    assert update["type"] == "session.update"
    session = update["session"]
    rs.check_session(session)
    assert session["type"] == "realtime"
    assert session["output_modalities"] == ["audio"]
    assert session["instructions"] == "Be brief."
    audio = session["audio"]
    assert audio["input"]["format"] == {"type": "audio/pcmu"}
    assert audio["output"]["format"] == {"type": "audio/pcmu"}
    assert audio["output"]["voice"] == "marin"
    # None of the beta flat fields: the GA server refuses them.
    for beta in ("voice", "modalities", "input_audio_format", "output_audio_format"):
        assert beta not in session


def test_session_update_pcm_names_its_rate() -> None:
    session = RealtimeProtocol(PCM).session_update("x", "marin", [])["session"]
    rs.check_session(session)
    assert session["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcm", "rate": 24000}
    # Two objects, not one shared: a caller mutating one must not change the other.
    assert session["audio"]["input"]["format"] is not session["audio"]["output"]["format"]


@pytest.mark.parametrize("fmt", [PCMU, PCM])
def test_session_update_turn_detection_leaves_turn_taking_to_sluice(fmt: str) -> None:
    session = RealtimeProtocol(fmt).session_update("x", "marin", [], silence_ms=640)["session"]
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "server_vad",
        "silence_duration_ms": 640,
        "create_response": False,
        "interrupt_response": False,
    }


def test_session_update_declares_tools_only_when_given() -> None:
    protocol = RealtimeProtocol(PCMU)
    without = protocol.session_update("x", "marin", [])["session"]
    assert "tools" not in without and "tool_choice" not in without
    with_tools = protocol.session_update("x", "marin", TOOLS)["session"]
    rs.check_session(with_tools)
    assert with_tools["tools"] == TOOLS
    assert with_tools["tool_choice"] == "auto"


def test_session_update_transcribes_only_when_a_model_is_given() -> None:
    protocol = RealtimeProtocol(PCMU)
    without = protocol.session_update("x", "marin", [])["session"]
    assert "transcription" not in without["audio"]["input"]
    with_model = protocol.session_update("x", "marin", [], "gpt-4o-transcribe")["session"]
    rs.check_session(with_model)
    assert with_model["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe"}


def test_the_fake_refuses_a_beta_shaped_session_so_its_check_means_something() -> None:
    beta = {"modalities": ["audio"], "voice": "marin", "input_audio_format": "g711_ulaw"}
    with pytest.raises(rs.RealtimeError):
        rs.check_session(beta)
    with pytest.raises(rs.RealtimeError):
        rs.check_session({"type": "realtime", **beta})


# ---- other client events ------------------------------------------------------------


def test_client_events_are_ga_shaped() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert protocol.append(b"\x01\x02") == {
        "type": "input_audio_buffer.append",
        "audio": base64.b64encode(b"\x01\x02").decode(),
    }
    assert without_id(protocol.create_response(1)) == {"type": "response.create"}
    with_instructions = without_id(RealtimeProtocol(PCMU).create_response(2, "Say hello."))
    assert with_instructions == {
        "type": "response.create",
        "response": {"instructions": "Say hello."},
    }
    rs.check_response_params(with_instructions["response"])
    text = protocol.user_text("pressed 5")
    rs.check_item(text["item"])
    assert text == {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "pressed 5"}],
        },
    }
    output = protocol.tool_output("call_1", '{"ok": true}')
    rs.check_item(output["item"])
    assert output == {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": "call_1", "output": '{"ok": true}'},
    }


# ---- responses to turns -----------------------------------------------------------


def test_responses_map_to_turns_in_the_order_they_were_asked_for() -> None:
    protocol = RealtimeProtocol(PCMU)
    protocol.create_response(7)
    protocol.create_response(9)
    assert feed(protocol, created("r1"), delta("r1", "i1", b"\xff" * 80)) == [
        ModelAudio(7, "i1", b"\xff" * 80)
    ]
    assert protocol.active == "r1"
    assert feed(protocol, done("r1")) == [ModelReplyDone(7, "completed", False)]
    assert protocol.active is None
    assert feed(protocol, created("r2"), delta("r2", "i2", b"\x7f" * 8)) == [
        ModelAudio(9, "i2", b"\x7f" * 8)
    ]
    assert feed(protocol, transcript_delta("r2", "i2", "hello")) == [ModelText(9, "hello")]
    assert feed(protocol, done("r2")) == [ModelReplyDone(9, "completed", False)]
    assert protocol.ignored_responses == 0


def test_a_response_nobody_asked_for_is_ignored_and_counted() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert feed(protocol, created("r_server")) == []
    assert protocol.ignored_responses == 1
    assert protocol.active == "r_server"  # active on the server all the same
    assert feed(protocol, delta("r_server", "i1", pcmu_ms(20))) == []
    assert feed(protocol, transcript_delta("r_server", "i1", "unasked")) == []
    assert feed(protocol, tool_args_done("r_server", "c1", "lookup", "{}")) == []
    assert feed(protocol, done("r_server")) == []
    assert protocol.active is None


def test_a_response_beyond_those_asked_for_is_ignored() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, done("r1"))
    assert feed(protocol, created("r2"), delta("r2", "i2", pcmu_ms(20))) == []
    assert protocol.ignored_responses == 1


def test_a_turn_asks_again_after_its_tools_and_the_new_response_is_still_its() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 3, "r1")
    call = feed(protocol, tool_args_done("r1", "call_1", "lookup", '{"q": "x"}'))
    assert call == [ModelToolCall(3, "call_1", "lookup", '{"q": "x"}')]
    assert feed(protocol, done("r1", output=[function_call_item()])) == [
        ModelReplyDone(3, "completed", wants_more=True)
    ]
    assert protocol.has_turn(3)
    speaking(protocol, 3, "r2")
    assert feed(protocol, delta("r2", "i2", pcmu_ms(10))) == [ModelAudio(3, "i2", pcmu_ms(10))]


# ---- interrupt: cancel ------------------------------------------------------------------


def test_interrupt_cancels_the_turns_active_response_first() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "i1", pcmu_ms(100)))
    events = protocol.interrupt(1, 40)
    assert events[0] == {"type": "response.cancel", "response_id": "r1"}
    assert truncates(events) == {"i1": 40}


def test_interrupt_sends_no_cancel_after_the_response_is_done() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "i1", pcmu_ms(100)), done("r1"))
    events = protocol.interrupt(1, 40)
    assert cancels(events) == []
    assert truncates(events) == {"i1": 40}  # the caller still heard only part of it


def test_interrupt_sends_the_cancel_once() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "i1", pcmu_ms(100)))
    assert len(cancels(protocol.interrupt(1, 0))) == 1
    assert protocol.interrupt(1, 0) == []  # still active on the server: no second cancel


def test_interrupt_leaves_another_turns_response_running() -> None:
    protocol = RealtimeProtocol(PCMU)
    protocol.create_response(1)
    protocol.create_response(2)
    feed(protocol, created("r1"), delta("r1", "i1", pcmu_ms(20)), done("r1"))
    feed(protocol, created("r2"), delta("r2", "i2", pcmu_ms(20)))
    assert cancels(protocol.interrupt(1, 0)) == []
    assert protocol.active == "r2"
    assert feed(protocol, delta("r2", "i2", pcmu_ms(20))) == [ModelAudio(2, "i2", pcmu_ms(20))]


def test_interrupt_before_the_response_starts_withdraws_the_request() -> None:
    protocol = RealtimeProtocol(PCMU)
    protocol.create_response(1)
    assert protocol.interrupt(1, 0) == []  # nothing active: a cancel would be an error
    assert not protocol.has_turn(1)
    # Its response arrives later: it is cancelled at once, and none of its audio
    # is played or left in the conversation as heard.
    assert feed(protocol, created("r1")) == []
    assert protocol.take_outbox() == [{"type": "response.cancel", "response_id": "r1"}]
    assert feed(protocol, delta("r1", "i1", pcmu_ms(20)), done("r1", "cancelled")) == []
    assert truncates(protocol.take_outbox()) == {"i1": 0}
    assert protocol.ignored_responses == 0


def test_a_second_request_waits_for_the_active_response_to_end() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    assert protocol.create_response(2) is None  # the server would refuse it now
    assert protocol.take_outbox() == []
    feed(protocol, done("r1"))
    assert [without_id(e) for e in protocol.take_outbox()] == [{"type": "response.create"}]
    assert feed(protocol, created("r2"), delta("r2", "i2", pcmu_ms(20))) == [
        ModelAudio(2, "i2", pcmu_ms(20))
    ]


def test_a_refused_request_goes_again_when_the_active_response_ends() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert protocol.create_response(1) is not None
    refusal = {
        "type": "error",
        "error": {"code": "conversation_already_has_active_response", "message": "busy"},
    }
    feed(protocol, json.dumps(refusal), created("r_server"), done("r_server"))
    assert [without_id(e) for e in protocol.take_outbox()] == [{"type": "response.create"}]
    assert feed(protocol, created("r1"), delta("r1", "i1", pcmu_ms(20))) == [
        ModelAudio(1, "i1", pcmu_ms(20))
    ]


def test_a_withdrawn_request_keeps_its_place_in_the_order() -> None:
    protocol = RealtimeProtocol(PCMU)
    protocol.create_response(1)
    protocol.interrupt(1, 0)  # the caller barged in before response.created
    protocol.create_response(2)
    # The server answers the requests in order: r1 is turn 1's, r2 turn 2's.
    assert feed(protocol, created("r1"), delta("r1", "i1", pcmu_ms(20))) == []
    feed(protocol, done("r1"))
    assert feed(protocol, created("r2"), delta("r2", "i2", pcmu_ms(20))) == [
        ModelAudio(2, "i2", pcmu_ms(20))
    ]


def test_interrupt_of_an_unknown_turn_is_harmless() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert protocol.interrupt(42, 1000) == []
    speaking(protocol, 1, "r1")
    assert feed(protocol, delta("r1", "i1", b"\xff")) == [ModelAudio(1, "i1", b"\xff")]


def test_after_interrupt_the_response_yields_nothing_more() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "i1", pcmu_ms(20)))
    protocol.interrupt(1, 10)
    assert not protocol.has_turn(1)
    assert feed(protocol, delta("r1", "i1", pcmu_ms(20))) == []
    assert feed(protocol, delta("r1", "i2", pcmu_ms(20))) == []
    assert feed(protocol, transcript_delta("r1", "i1", "more")) == []
    assert feed(protocol, tool_args_done("r1", "call_9", "lookup", "{}")) == []
    assert feed(protocol, done("r1", "cancelled")) == []
    assert protocol.active is None


# ---- interrupt: truncate -------------------------------------------------------------


def test_truncate_names_the_item_playing_and_zeroes_the_ones_after() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(200)))
    protocol.audio_framed(1, 200)
    feed(protocol, delta("r1", "b", pcmu_ms(100)))
    protocol.audio_framed(1, 100)
    feed(protocol, delta("r1", "c", pcmu_ms(60)))
    protocol.audio_framed(1, 60)
    events = protocol.interrupt(1, 250)
    # a (0-200) was heard in full; b (200-300) to 50 ms; c (300-360) not at all.
    assert truncates(events) == {"b": 50, "c": 0}
    for e in events:
        if e["type"] == "conversation.item.truncate":
            assert e["content_index"] == 0
            assert isinstance(e["audio_end_ms"], int)


def test_an_item_heard_to_its_end_gets_no_truncate() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(100)), done("r1"))
    protocol.audio_framed(1, 100)
    assert truncates(protocol.interrupt(1, 100)) == {}


def test_the_last_item_of_a_response_still_generating_is_truncated_even_if_heard() -> None:
    # More of it may be on the way when the cancel lands: none of that was heard.
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(100)))
    protocol.audio_framed(1, 100)
    assert truncates(protocol.interrupt(1, 100)) == {"a": 100}


def test_audio_of_one_item_adds_up_across_deltas() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    for _ in range(5):
        feed(protocol, delta("r1", "a", pcmu_ms(20)))
    events = protocol.interrupt(1, 70)
    assert truncates(events) == {"a": 70}


def test_truncate_never_exceeds_the_audio_the_server_sent() -> None:
    # The session framed more than the server sent for the item (its last frame
    # padded out): heard past what was sent is heard in full, not a truncate the
    # server would refuse ("Audio content of X ms is already shorter than Y ms").
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(15)))
    protocol.audio_framed(1, 20)
    feed(protocol, delta("r1", "b", pcmu_ms(50)))
    events = protocol.interrupt(1, 18)
    assert truncates(events) == {"b": 0}
    for item_id, end in truncates(events).items():
        assert end <= {"a": 15, "b": 50}[item_id]


def test_truncate_rounds_down_a_partial_millisecond() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", b"\xff" * 83), done("r1"))  # 10.375 ms
    assert truncates(protocol.interrupt(1, 10)) == {}  # the 10 whole ms sent were heard
    speaking(protocol, 2, "r2")
    feed(protocol, delta("r2", "a2", b"\xff" * 83))
    assert truncates(protocol.interrupt(2, 9)) == {"a2": 9}


def test_pcm_counts_48_bytes_per_ms() -> None:
    protocol = RealtimeProtocol(PCM)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcm_ms(100)))
    protocol.audio_framed(1, 100)
    feed(protocol, delta("r1", "b", pcm_ms(30)))
    assert truncates(protocol.interrupt(1, 120)) == {"b": 20}


def test_pcm_truncate_stays_within_what_was_sent() -> None:
    protocol = RealtimeProtocol(PCM)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcm_ms(30)))  # 1440 bytes: 30 ms, not 90 as pcmu
    assert truncates(protocol.interrupt(1, 29)) == {"a": 29}
    speaking(protocol, 2, "r2")
    feed(protocol, delta("r2", "a", pcm_ms(30)))
    assert truncates(protocol.interrupt(2, 45)) == {}


def test_pcmu_counts_8_bytes_per_ms() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", b"\xff" * 1440))  # 180 ms of pcmu
    assert truncates(protocol.interrupt(1, 179)) == {"a": 179}


def test_an_item_with_no_audio_gets_no_truncate() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(50)))
    protocol.audio_framed(1, 50)
    assert feed(protocol, delta("r1", "empty", b"")) == [ModelAudio(1, "empty", b"")]
    assert truncates(protocol.interrupt(1, 10)) == {"a": 10}


def test_a_turn_with_only_a_tool_call_gets_no_truncate() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, tool_args_done("r1", "c1", "lookup", "{}"))
    events = protocol.interrupt(1, 0)
    assert events == [{"type": "response.cancel", "response_id": "r1"}]


def test_item_offsets_carry_over_to_the_turns_next_response() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(100)))
    protocol.audio_framed(1, 100)
    feed(protocol, done("r1", output=[message_item(), function_call_item()]))
    speaking(protocol, 1, "r2")
    feed(protocol, delta("r2", "b", pcmu_ms(100)))
    protocol.audio_framed(1, 100)
    events = protocol.interrupt(1, 130)
    assert events[0] == {"type": "response.cancel", "response_id": "r2"}
    assert truncates(events) == {"b": 30}


def test_an_item_starts_where_the_frames_cut_so_far_end_not_where_its_audio_arrived() -> None:
    # The second item's audio arrives before the session cut the first one's
    # frames: it starts after the frames cut when its first delta came.
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(100)))
    protocol.audio_framed(1, 60)
    feed(protocol, delta("r1", "b", pcmu_ms(100)))  # b starts at 60
    protocol.audio_framed(1, 140)
    assert truncates(protocol.interrupt(1, 90)) == {"a": 90, "b": 30}


def test_audio_framed_for_an_unknown_turn_is_ignored() -> None:
    protocol = RealtimeProtocol(PCMU)
    protocol.audio_framed(5, 100)
    assert not protocol.has_turn(5)


def test_a_forgotten_turn_is_not_truncated() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(100)), done("r1"))
    protocol.forget_turn(1)
    assert not protocol.has_turn(1)
    assert protocol.interrupt(1, 10) == []


# ---- malformed input ------------------------------------------------------------------


MALFORMED: list[str | bytes] = [
    "this is not JSON {",
    b"\xff\xfe\x00not utf-8",
    "",
    "[1, 2, 3]",
    '"response.created"',
    "null",
    json.dumps({"response": {"id": "r"}}),
    json.dumps({"type": 7}),
    json.dumps({"type": None}),
    event("response.output_audio.delta", response_id="r1", item_id="i", delta="%%not base64%%"),
    event("response.output_audio.delta", response_id="r1", item_id="i", delta="AAA"),
    event("response.output_audio.delta", response_id="r1", item_id="i", delta=123),
    event("response.output_audio.delta", response_id="r1"),
    event("response.output_audio.delta", item_id="i", delta="AAAA"),
    event("response.output_audio.delta", response_id=None, item_id="i", delta="AAAA"),
    event("response.output_audio.delta", response_id="r1", delta="AAAA"),
    event("response.output_audio_transcript.delta", response_id="r1"),
    event("response.created"),
    event("response.created", response="r1"),
    event("response.created", response=None),
    event("response.created", response=["r1"]),
    event("response.created", response={}),
    event("response.created", response={"id": 5}),
    event("response.done", response="r1"),
    event("response.done", response=None),
    event("response.done", response={"status": "completed"}),
    event("response.function_call_arguments.done", response_id="r1", call_id="c1"),
    event("conversation.item.input_audio_transcription.completed", item_id="i"),
    event("conversation.item.input_audio_transcription.completed", transcript=None),
    event("error"),
    event("error", error="boom"),
    event("error", error={"code": "x", "message": None}),
]


@pytest.mark.parametrize("message", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_events_raise_bad_event_and_leave_the_protocol_working(
    message: str | bytes,
) -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    with pytest.raises(BadEvent):
        protocol.receive(message)
    assert protocol.active == "r1"
    assert feed(protocol, delta("r1", "i1", pcmu_ms(10))) == [ModelAudio(1, "i1", pcmu_ms(10))]
    assert feed(protocol, done("r1")) == [ModelReplyDone(1, "completed", False)]
    speaking(protocol, 2, "r2")
    assert feed(protocol, delta("r2", "i2", b"\xff")) == [ModelAudio(2, "i2", b"\xff")]


@pytest.mark.parametrize(
    "message",
    ["[" * 100_000, '{"type": "error", "error": ' + "[" * 100_000 + "]" * 100_000 + "}"],
    ids=["bare", "in_a_field"],
)
def test_json_nested_too_deeply_is_a_bad_event(message: str) -> None:
    protocol = RealtimeProtocol(PCMU)
    with pytest.raises(BadEvent):
        protocol.receive(message)


def test_a_bad_delta_does_not_count_as_audio_received() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(10)))
    with pytest.raises(BadEvent):
        protocol.receive(
            event("response.output_audio.delta", response_id="r1", item_id="a", delta="@@@@")
        )
    assert truncates(protocol.interrupt(1, 5)) == {"a": 5}


def test_a_bad_delta_for_an_ignored_response_is_still_bad() -> None:
    protocol = RealtimeProtocol(PCMU)
    with pytest.raises(BadEvent):
        protocol.receive(
            event("response.output_audio.delta", response_id="rx", item_id="a", delta="%%")
        )


def test_bad_event_is_a_value_error_with_a_short_reason() -> None:
    protocol = RealtimeProtocol(PCMU)
    with pytest.raises(ValueError, match="not JSON"):
        protocol.receive("{")
    with pytest.raises(BadEvent, match="without a type"):
        protocol.receive("{}")
    with pytest.raises(BadEvent, match="^response.created without") as info:
        protocol.receive(event("response.created"))
    assert len(str(info.value)) < 200


@pytest.mark.parametrize(
    "message",
    [
        event("rate_limits.updated", rate_limits=rs.RATE_LIMITS),
        event("session.created", session={}),
        event("session.updated", session={}),
        event("response.output_item.added", response_id="r1", item={}),
        event("response.content_part.added", response_id="r1"),
        event("response.output_audio.done", response_id="r1"),
        event("response.function_call_arguments.delta", response_id="r1", delta="{"),
        event("conversation.item.truncated", item_id="i", content_index=0, audio_end_ms=0),
        event("response.fake_unknown_event", response_id="r1"),
        # The beta names are not the GA ones: quietly nothing.
        event("response.audio.delta", response_id="r1", item_id="i", delta="AAAA"),
        event("response.audio_transcript.delta", response_id="r1", delta="hi"),
        json.dumps({"type": "x" * 10_000}),
    ],
)
def test_unknown_events_are_quietly_nothing(message: str) -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    assert protocol.receive(message) == []
    assert protocol.active == "r1"


def test_bytes_messages_are_read_as_utf8_json() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert protocol.receive(event("input_audio_buffer.speech_started").encode()) == [
        ModelSpeechStarted()
    ]


# ---- the other server events ------------------------------------------------------------


def test_caller_side_events() -> None:
    protocol = RealtimeProtocol(PCMU)
    assert feed(
        protocol,
        event("input_audio_buffer.speech_started", audio_start_ms=120, item_id="u1"),
        event("input_audio_buffer.speech_stopped", audio_end_ms=900, item_id="u1"),
        event("input_audio_buffer.committed", item_id="u1", previous_item_id=None),
        event(
            "conversation.item.input_audio_transcription.completed",
            item_id="u1",
            content_index=0,
            transcript="hello there",
        ),
    ) == [
        ModelSpeechStarted(),
        ModelSpeechStopped(),
        ModelHeardCaller(),
        ModelTranscript("hello there"),
    ]


def test_errors_become_model_errors() -> None:
    protocol = RealtimeProtocol(PCMU)
    body = {
        "type": "invalid_request_error",
        "code": "response_cancel_not_active",
        "message": "Cancellation failed: no active response found",
        "param": None,
        "event_id": None,
    }
    assert protocol.receive(event("error", error=body)) == [
        ModelError("response_cancel_not_active", "Cancellation failed: no active response found")
    ]
    no_code = {"type": "server_error", "code": None, "message": "oops"}
    assert protocol.receive(event("error", error=no_code)) == [ModelError("", "oops")]
    assert protocol.receive(event("error", error={})) == [ModelError("", "")]


def test_tool_call_arguments_done_is_a_tool_call_of_the_turn() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 4, "r1")
    assert feed(protocol, tool_args_done("r1", "call_1", "lookup", '{"q": "weather"}')) == [
        ModelToolCall(4, "call_1", "lookup", '{"q": "weather"}')
    ]


@pytest.mark.parametrize(
    ("output", "wants_more"),
    [
        ([function_call_item()], True),
        ([message_item(), function_call_item()], True),
        ([message_item()], False),
        ([], False),
        (None, False),
        (["garbage", 3], False),
    ],
)
def test_reply_done_wants_more_only_after_a_function_call(
    output: list[Any] | None, wants_more: bool
) -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    response: dict[str, Any] = {"id": "r1", "status": "completed"}
    if output is not None:
        response["output"] = output
    assert protocol.receive(event("response.done", response=response)) == [
        ModelReplyDone(1, "completed", wants_more)
    ]


@pytest.mark.parametrize("status", ["completed", "cancelled", "failed", "incomplete"])
def test_reply_done_carries_the_status(status: str) -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    assert feed(protocol, done("r1", status)) == [ModelReplyDone(1, status, False)]


def test_response_done_of_another_response_leaves_the_active_one() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r2")
    assert feed(protocol, done("r_old")) == []
    assert protocol.active == "r2"


# ---- transcripts are capped ------------------------------------------------------------


def test_caller_transcript_is_capped() -> None:
    protocol = RealtimeProtocol(PCMU)
    long = "w" * (MAX_TRANSCRIPT_CHARS * 5)
    [got] = protocol.receive(
        event("conversation.item.input_audio_transcription.completed", transcript=long)
    )
    assert got == ModelTranscript("w" * MAX_TRANSCRIPT_CHARS)


def test_reply_transcript_delta_is_capped() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    [got] = protocol.receive(transcript_delta("r1", "i", "x" * (MAX_TRANSCRIPT_CHARS + 1)))
    assert got == ModelText(1, "x" * MAX_TRANSCRIPT_CHARS)
    [short] = protocol.receive(transcript_delta("r1", "i", "fine"))
    assert short == ModelText(1, "fine")


# ---- bounded memory ---------------------------------------------------------------------


def test_a_hundred_turns_leave_the_bookkeeping_small() -> None:
    protocol = RealtimeProtocol(PCMU)
    for turn in range(100):
        protocol.create_response(turn)
        rid = f"r{turn}"
        assert feed(protocol, created(rid), delta(rid, f"i{turn}", pcmu_ms(20)))[0].turn_id == turn
        feed(protocol, tool_args_done(rid, f"c{turn}", "lookup", "{}"), done(rid))
        # The session never calls forget_turn here: the protocol bounds itself.
        assert len(protocol._turn_of) <= 16
        assert len(protocol._turns) <= 16
        assert len(protocol._silenced) <= 8
        assert len(protocol._pending) <= 8
    assert protocol.ignored_responses == 0
    # The latest turn is still there to truncate.
    assert truncates(protocol.interrupt(99, 5)) == {"i99": 5}


def test_a_hundred_ignored_responses_leave_the_bookkeeping_small() -> None:
    protocol = RealtimeProtocol(PCMU)
    for n in range(100):
        feed(protocol, created(f"r{n}"), delta(f"r{n}", "i", pcmu_ms(20)), done(f"r{n}"))
    assert protocol.ignored_responses == 100
    assert len(protocol._turn_of) <= 16
    assert len(protocol._turns) <= 16


def test_turns_asked_for_and_interrupted_before_any_response_are_released() -> None:
    protocol = RealtimeProtocol(PCMU)
    for turn in range(100):
        protocol.create_response(turn)
        protocol.interrupt(turn, 0)
    assert protocol._turns == {}
    assert len(protocol._pending) == 0


def test_played_turns_are_released_by_forget_turn() -> None:
    protocol = RealtimeProtocol(PCMU)
    for turn in range(100):
        speaking(protocol, turn, f"r{turn}")
        feed(protocol, delta(f"r{turn}", "i", pcmu_ms(20)), done(f"r{turn}"))
        protocol.forget_turn(turn)
    assert protocol._turns == {}
    assert len(protocol._turn_of) <= 16


def test_a_turn_of_many_items_keeps_only_the_last_ones() -> None:
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    for n in range(100):
        feed(protocol, delta("r1", f"i{n}", pcmu_ms(10)))
        protocol.audio_framed(1, 10)
    assert len(protocol._turns[1].items) <= 16
    # The last item (990-1000) is the one playing at 995.
    assert truncates(protocol.interrupt(1, 995)) == {"i99": 5}


def test_a_request_refused_for_good_fails_its_turn_and_frees_the_next() -> None:
    protocol = RealtimeProtocol(PCMU)
    first = protocol.create_response(1, "Say hi.")
    assert first is not None
    assert protocol.create_response(2) is None
    refusal = {
        "type": "error",
        "error": {"code": "invalid_value", "message": "no", "event_id": first["event_id"]},
    }
    events = feed(protocol, json.dumps(refusal))
    assert ModelReplyDone(1, "failed") in events
    assert [without_id(e) for e in protocol.take_outbox()] == [{"type": "response.create"}]


def test_a_request_refused_while_busy_goes_again_with_its_instructions() -> None:
    protocol = RealtimeProtocol(PCMU)
    first = protocol.create_response(1, "Say hi.")
    assert first is not None
    refusal = {
        "type": "error",
        "error": {
            "code": "conversation_already_has_active_response",
            "message": "busy",
            "event_id": first["event_id"],
        },
    }
    feed(protocol, json.dumps(refusal), created("r_other"), done("r_other"))
    assert protocol.take_outbox() == [first]


def test_an_items_start_is_where_its_first_frame_is_cut() -> None:
    # The previous item's padded last frame is cut after the next item's audio arrived.
    protocol = RealtimeProtocol(PCMU)
    speaking(protocol, 1, "r1")
    feed(protocol, delta("r1", "a", pcmu_ms(30)))
    protocol.audio_framed(1, 20, "a")
    feed(protocol, delta("r1", "b", pcmu_ms(100)))
    protocol.audio_framed(1, 20, "a")  # a's padded tail
    protocol.audio_framed(1, 100, "b")
    assert truncates(protocol.interrupt(1, 60)) == {"b": 20}
