"""The example app on its own, with a client that plays Twilio's part."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator

import pytest
import uvicorn
import websockets
from relay_agent import app, sessions

pytestmark = pytest.mark.timeout(20)


@pytest.fixture
async def url() -> AsyncIterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    yield f"ws://127.0.0.1:{port}/ws"
    server.should_exit = True
    await task


def setup(call_sid: str) -> str:
    return json.dumps({"type": "setup", "sessionId": "VX1", "callSid": call_sid, "from": "+1",
                       "to": "+2", "customParameters": {}})  # fmt: skip


async def tokens_until_last(ws) -> list[dict]:
    got = []
    while True:
        message = json.loads(await ws.recv())
        got.append(message)
        if message["type"] == "text" and message["last"]:
            return got


async def test_a_prompt_is_answered_in_streamed_tokens(url: str) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(setup("CA1"))
        await ws.send(json.dumps({"type": "prompt", "voicePrompt": "When are you open?",
                                  "lang": "en-US", "last": True}))  # fmt: skip
        got = await tokens_until_last(ws)
    text = "".join(m["token"] for m in got)
    assert len(got) > 3 and "open from ten until four" in text


async def test_an_interrupt_stops_the_answer_and_keeps_what_was_heard(url: str) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(setup("CA2"))
        await ws.send(json.dumps({"type": "prompt", "voicePrompt": "Tell me a story.",
                                  "lang": "en-US", "last": True}))  # fmt: skip
        for _ in range(3):
            await ws.recv()
        heard = "Here is the lighthouse's story."
        await ws.send(json.dumps({"type": "interrupt", "utteranceUntilInterrupt": heard,
                                  "durationUntilInterruptMs": 1500}))  # fmt: skip
        await asyncio.sleep(0.2)
        assert sessions["CA2"][-1] == {"role": "assistant", "content": heard}
        await ws.send(json.dumps({"type": "dtmf", "digit": "7"}))
        while (message := json.loads(await ws.recv()))["token"] != "You pressed 7.":
            assert not message["last"], "the cut answer never finished"


async def test_goodbye_ends_the_session(url: str) -> None:
    async with websockets.connect(url) as ws:
        await ws.send(setup("CA3"))
        await ws.send(json.dumps({"type": "prompt", "voicePrompt": "Goodbye.",
                                  "lang": "en-US", "last": True}))  # fmt: skip
        await tokens_until_last(ws)
        end = json.loads(await ws.recv())
    assert end["type"] == "end" and json.loads(end["handoffData"]) == {"reason": "goodbye"}
