"""The example agent on its own: history in, text deltas out, cancellation seen."""

from __future__ import annotations

import asyncio

import pytest
from lighthouse_agent import make_agent

from gateway.agents import CallInfo, Message

pytestmark = pytest.mark.timeout(10)


async def test_it_answers_from_the_latest_question() -> None:
    agent = make_agent(CallInfo("c1", "twilio", carrier="twilio", caller="+15550000001"))
    history = [Message("user", "When are you open?")]
    text = "".join([delta async for delta in agent.reply(history)])
    assert "open to visitors from ten until four" in text
    assert agent.seen == [history] and agent.cancelled == 0


async def test_a_cancelled_reply_is_counted_and_stops() -> None:
    agent = make_agent(CallInfo("c2", "websocket"))
    received: list[str] = []

    async def listen() -> None:
        async for delta in agent.reply([Message("user", "Tell me a long story.")]):
            received.append(delta)

    task = asyncio.create_task(listen())
    await asyncio.sleep(0.1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert agent.cancelled == 1
    assert 3 < len(received) < 60, "it streamed, and stopped when cancelled"
