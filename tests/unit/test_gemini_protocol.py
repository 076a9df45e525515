"""The Gemini Live protocol, sans-I/O: the setup Sluice sends, and which turn
each piece of model output belongs to, request by request."""

from __future__ import annotations

import base64
import json

import pytest

from gateway.voice import gemini_protocol as gp
from gateway.voice.gemini_protocol import GeminiProtocol

pytestmark = pytest.mark.timeout(10)

PCM = b"\x01\x00" * 240


def audio(pcm: bytes = PCM) -> str:
    data = base64.b64encode(pcm).decode()
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
    return json.dumps({"serverContent": {"modelTurn": {"parts": [part]}}})


def content(**fields) -> str:
    return json.dumps({"serverContent": fields})


def kinds(events: list) -> list[str]:
    return [type(e).__name__ for e in events]


def test_the_setup_leaves_turn_taking_to_sluice() -> None:
    p = GeminiProtocol()
    setup = p.setup("gemini-x", "Puck", "Be brief.", [{"name": "f", "parameters": {}}])["setup"]
    assert setup["model"] == "models/gemini-x"
    assert setup["realtimeInputConfig"]["automaticActivityDetection"] == {"disabled": True}
    assert setup["sessionResumption"] == {}
    assert setup["tools"] == [{"functionDeclarations": [
        {"name": "f", "description": "", "parameters": {}}]}]  # fmt: skip
    p.handle = "h1"
    assert p.setup("m", "v", "i", [], resume=True)["setup"]["sessionResumption"] == {"handle": "h1"}


def test_output_belongs_to_the_turn_that_asked_and_ends_with_turn_complete() -> None:
    p = GeminiProtocol()
    p.request(3)
    events = p.receive(audio())
    assert events == [gp.ModelAudio(3, 0, PCM)]
    assert p.receive(content(turnComplete=True)) == [gp.GenerationDone(3, "completed")]
    assert p.idle and p.turn_id is None


def test_a_cut_turn_s_output_is_dropped_through_its_turn_complete() -> None:
    p = GeminiProtocol()
    p.request(1)
    p.receive(audio())
    assert p.cut(1)
    p.request(2)  # the caller's barge-in is answered next
    assert p.receive(audio()) == [], "still the cut generation"
    assert p.receive(content(interrupted=True)) == []
    assert p.receive(audio()) == [], "a real server may send more before turnComplete"
    assert p.receive(content(turnComplete=True)) == []
    assert p.receive(audio()) == [gp.ModelAudio(2, 1, PCM)]


def test_a_turn_the_server_interrupts_ends_once() -> None:
    p = GeminiProtocol()
    p.request(1)
    p.receive(audio())
    assert p.receive(content(interrupted=True)) == [gp.GenerationDone(1, "interrupted")]
    assert p.receive(content(turnComplete=True)) == []
    assert p.idle


def test_a_tool_call_keeps_its_turn_open_across_a_turn_complete() -> None:
    p = GeminiProtocol()
    p.request(1)
    call = {"toolCall": {"functionCalls": [{"id": "c1", "name": "weather", "args": {"x": 1}}]}}
    assert p.receive(json.dumps(call)) == [gp.ToolCall(1, "c1", "weather", '{"x": 1}')]
    assert p.receive(content(turnComplete=True)) == [], "the answer after the tool is to come"
    p.tool_answered("c1")
    assert p.receive(audio()) == [gp.ModelAudio(1, 0, PCM)]
    assert p.receive(content(turnComplete=True)) == [gp.GenerationDone(1, "completed")]


def test_a_move_to_a_new_socket_abandons_what_was_owed() -> None:
    p = GeminiProtocol()
    p.request(4)
    p.receive(audio())
    assert p.abandon() == [4] and p.idle


def test_resumption_handles_and_go_away() -> None:
    p = GeminiProtocol()
    update = {"sessionResumptionUpdate": {"newHandle": "h2", "resumable": True}}
    assert p.receive(json.dumps(update)) == [gp.Resumable("h2")] and p.handle == "h2"
    assert p.receive(json.dumps({"sessionResumptionUpdate": {"resumable": False}})) == []
    assert p.receive(json.dumps({"goAway": {"timeLeft": "9.5s"}})) == [gp.GoAway(9.5)]


@pytest.mark.parametrize(
    "raw",
    [
        "{not json",
        "[1]",
        json.dumps({"mystery": {}}),
        json.dumps({"serverContent": {"modelTurn": {"parts": "x"}}}),
        json.dumps({"serverContent": {"modelTurn": {"parts": ["x"]}}}),
        json.dumps(
            {
                "serverContent": {
                    "modelTurn": {
                        "parts": [
                            {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": "!!"}}
                        ]
                    }
                }
            }
        ),  # fmt: skip
        json.dumps(
            {
                "serverContent": {
                    "modelTurn": {
                        "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=16000", "data": ""}}]
                    }
                }
            }
        ),  # fmt: skip
        json.dumps({"goAway": {"timeLeft": 10}}),
        json.dumps({"toolCall": {"functionCalls": [{"id": "x"}]}}),
    ],
)
def test_what_is_not_a_live_message_is_a_bad_message(raw: str) -> None:
    p = GeminiProtocol()
    p.request(1)
    with pytest.raises(gp.BadMessage):
        p.receive(raw)
