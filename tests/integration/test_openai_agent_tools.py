"""The OpenAI-compatible chat agent runs the user's tools, the same `Tools` the
Realtime voice runs: declared in chat format, run between requests, their
results read back to the model, and reported to the call as `ToolCall` events."""

from __future__ import annotations

import json

import pytest

from gateway.call.events import AgentText, ToolCall
from gateway.pipeline.agent import Message
from gateway.pipeline.openai_chat import MAX_TOOL_ROUNDS, AgentError, OpenAIChatAgent
from gateway.pipeline.tools import Tools
from gateway.runtime.services import Services
from gateway.testing.twilio_caller import TwilioCaller
from tests.fakes.openai_speech import serve_app
from tests.integration.fake_openai import TOOL_CALL_ID, fake_chat_app
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(30)

REPLY = "It is sunny in Oslo."
FORECAST = {"city": "Oslo", "sky": "sunny", "celsius": 21}


async def weather(city: str) -> dict:
    """The weather in a city."""
    return {**FORECAST, "city": city}


async def broken_weather(city: str) -> dict:
    """The weather in a city, from a service that is down."""
    raise RuntimeError(f"the weather service is down for {city}")


broken_weather.__name__ = "weather"


def collector():
    reports: list[tuple] = []

    def report(name, args, result, error):
        reports.append((name, args, result, error))

    return reports, report


async def test_the_agent_declares_runs_and_reads_back_a_tool():
    app = fake_chat_app(REPLY, tool_call=("weather", json.dumps({"city": "Oslo"})))
    reports, report = collector()
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model", "key", tools=Tools([weather]))
        try:
            deltas = [d async for d in agent.reply([Message("user", "weather in Oslo?")], report)]
        finally:
            await agent.aclose()

    assert "".join(deltas).strip() == REPLY
    first, second = (r["body"] for r in app.state.requests)
    assert first["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "weather",
                "description": "The weather in a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string"}},
                    "required": ["city"],
                },
            },
        }
    ]
    assert second["tools"] == first["tools"]
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    *said, asked, answered = second["messages"]
    assert said == first["messages"]
    assert asked == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": TOOL_CALL_ID,
                "type": "function",
                "function": {"name": "weather", "arguments": '{"city": "Oslo"}'},
            }
        ],
    }
    assert answered["role"] == "tool" and answered["tool_call_id"] == TOOL_CALL_ID
    assert json.loads(answered["content"]) == FORECAST
    assert app.state.tool_messages == [answered]
    assert reports == [("weather", {"city": "Oslo"}, FORECAST, None)]


async def test_a_failing_tool_is_told_to_the_model_and_the_reply_goes_on():
    app = fake_chat_app(REPLY, tool_call=("weather", '{"city": "Oslo"}'))
    reports, report = collector()
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model", tools=Tools([broken_weather]))
        try:
            deltas = [d async for d in agent.reply([Message("user", "weather in Oslo?")], report)]
        finally:
            await agent.aclose()

    assert "".join(deltas).strip() == REPLY
    assert len(app.state.requests) == 2
    (told,) = app.state.tool_messages
    assert told["tool_call_id"] == TOOL_CALL_ID
    error = "RuntimeError: the weather service is down for Oslo"
    assert json.loads(told["content"]) == {"error": error}
    assert reports == [("weather", {"city": "Oslo"}, None, error)]


async def test_a_model_that_never_stops_calling_tools_is_cut_off():
    app = fake_chat_app(REPLY, tool_call=("weather", '{"city": "Oslo"}'))
    app.state.tool_call_always = True
    reports, report = collector()
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model", tools=Tools([weather]))
        try:
            with pytest.raises(AgentError, match=f"after {MAX_TOOL_ROUNDS} rounds"):
                _ = [d async for d in agent.reply([Message("user", "weather?")], report)]
        finally:
            await agent.aclose()

    assert len(app.state.requests) == MAX_TOOL_ROUNDS + 1
    assert len(reports) == MAX_TOOL_ROUNDS + 1
    # Each round carries every earlier exchange: one more tool message each time.
    tool_counts = [
        sum(m["role"] == "tool" for m in r["body"]["messages"]) for r in app.state.requests
    ]
    assert tool_counts == list(range(MAX_TOOL_ROUNDS + 1))


async def test_without_tools_the_agent_declares_none_and_the_fake_just_talks():
    app = fake_chat_app(REPLY, tool_call=("weather", '{"city": "Oslo"}'))
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model")
        try:
            deltas = [d async for d in agent.reply([Message("user", "weather?")])]
        finally:
            await agent.aclose()
    assert "".join(deltas).strip() == REPLY
    assert len(app.state.requests) == 1 and "tools" not in app.state.requests[0]["body"]


async def test_a_call_emits_the_tool_call_and_speaks_the_answer(gateway_factory, services, speech):
    # The fake calls the tool whatever PocketSphinx heard.
    app = fake_chat_app(REPLY, tool_call=("weather", '{"city": "Oslo"}'))
    tools = Tools([weather])
    async with serve_app(app) as base:
        agent = OpenAIChatAgent(base + "/v1", "fake-model", tools=tools)
        hosted = Services(
            stt=services.stt, tts=services.tts, agent=agent, tools=tools, vad=services.vad
        )
        gw = await gateway_factory(hosted, agent="openai", openai_base_url=base + "/v1")
        try:
            async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
                call = await only_call(gw.ctx)
                events = record_events(call)
                await wait_for(listening_after(call, 1), timeout=15)
                caller.say(await speech("What is the weather in Oslo?"))
                await wait_for(listening_after(call, 2), timeout=20)
        finally:
            await agent.aclose()

    calls = [e for e in events if isinstance(e, ToolCall)]
    assert calls == [ToolCall(2, "weather", {"city": "Oslo"}, FORECAST, None)]
    assert calls[0].to_dict()["type"] == "tool_call"
    spoken = " ".join(e.text for e in events if isinstance(e, AgentText) and e.turn_id == 2)
    assert spoken == REPLY
    assert len(app.state.requests) == 2
    assert json.loads(app.state.tool_messages[0]["content"]) == FORECAST
    assert caller.log.played_ms(2) > 500
