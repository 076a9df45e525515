"""The OpenAI-compatible agent against a local fake endpoint, alone and inside a call."""

from __future__ import annotations

import asyncio
import socket

import pytest
import uvicorn

from gateway.call.events import AgentText, Transcript
from gateway.pipeline.agent import Message
from gateway.pipeline.openai_chat import AgentError, OpenAIChatAgent
from gateway.runtime.services import Services
from gateway.testing.twilio_caller import TwilioCaller
from tests.integration.fake_openai import fake_chat_app
from tests.integration.helpers import listening_after, only_call, record_events, wait_for

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def fake_openai():
    app = fake_chat_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    yield app, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    server.should_exit = True
    await task


async def test_the_agent_streams_deltas_and_sends_the_conversation(fake_openai):
    app, base = fake_openai
    agent = OpenAIChatAgent(base, "test-model", api_key="sk-test", system_prompt="Be brief.")
    history = [Message("assistant", "Hi."), Message("user", "What time is it?")]
    text = "".join([d async for d in agent.reply(history)])
    await agent.aclose()
    assert text.strip() == "Hello from the fake model. It streams one word at a time."
    request = app.state.requests[0]
    assert request["auth"] == "Bearer sk-test"
    assert request["body"]["stream"] is True and request["body"]["model"] == "test-model"
    assert request["body"]["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "What time is it?"},
    ]


async def test_an_error_status_becomes_an_agent_error(fake_openai):
    _, base = fake_openai
    agent = OpenAIChatAgent(base, "broken")
    with pytest.raises(AgentError, match="404"):
        _ = [d async for d in agent.reply([Message("user", "hi")])]
    await agent.aclose()


async def test_a_call_speaks_what_the_hosted_model_streams(
    fake_openai, gateway_factory, services, speech
):
    app, base = fake_openai
    agent = OpenAIChatAgent(base, "test-model")
    hosted = Services(stt=services.stt, tts=services.tts, agent=agent)

    gw = await gateway_factory(agent="openai", openai_base_url=base, services_override=hosted)
    async with TwilioCaller(gw.ws_url + "/twilio/media") as caller:
        call = await only_call(gw.ctx)
        events = record_events(call)
        await wait_for(listening_after(call, 1), timeout=15)
        caller.say(await speech("What is the weather like today?"))
        await wait_for(listening_after(call, 2), timeout=20)
    await agent.aclose()
    spoken = " ".join(e.text for e in events if isinstance(e, AgentText) and e.turn_id == 2)
    assert spoken == "Hello from the fake model. It streams one word at a time."
    heard = [e.text for e in events if isinstance(e, Transcript)]
    sent = app.state.requests[-1]["body"]["messages"]
    assert sent[-1] == {"role": "user", "content": heard[0]}
    assert caller.log.played_ms(2) > 1000
