"""Agent sockets for the relay tests: the example app served on loopback, and
a scripted one whose connections misbehave in turn."""

from __future__ import annotations

import asyncio
import io
import json
import socket
import wave
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import numpy as np
import uvicorn
import websockets
from fastapi import FastAPI, Response

TONE_S = 1.0
clips = FastAPI()
"""Files an agent socket asks Sluice to play."""


@clips.get("/tone.wav")
def tone() -> Response:
    rate = 22050
    t = np.arange(int(rate * TONE_S)) / rate
    samples = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    body = io.BytesIO()
    with wave.open(body, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(samples.tobytes())
    return Response(body.getvalue(), media_type="audio/wav")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def served(app) -> AsyncIterator[str]:
    """An ASGI app on loopback; yields its ws:// URL for /ws."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        server.should_exit = True
        await task


class ScriptedRelay:
    """Each connection takes the next mode: "healthy" answers every prompt,
    "garbage" sends what is not ConversationRelay, "drop" closes after setup,
    "protected" answers with text the caller may not cut, "preempt" answers
    with a preemptible "please hold" cut by the answer 1.5 s later, "jingle" answers
    with a played file and key tones (`clip_url` serves the file)."""

    def __init__(self, *modes: str, clip_url: str = "") -> None:
        self.modes = list(modes)
        self.clip_url = clip_url
        self.received: list[list[dict]] = []
        self.url = ""

    async def _serve(self, ws) -> None:
        mode = self.modes.pop(0) if self.modes else "healthy"
        got: list[dict] = []
        self.received.append(got)
        async for raw in ws:
            message = json.loads(raw)
            got.append(message)
            if message["type"] == "setup" and mode == "drop":
                await ws.close()
                return
            if message["type"] == "setup" and mode == "garbage":
                for i in range(12):
                    await ws.send(["{not json", '{"type": "shout"}', "[1, 2]"][i % 3])
            if message["type"] != "prompt":
                continue
            if mode == "healthy":
                for token in ("Fine, ", "thank ", "you."):
                    await ws.send(json.dumps({"type": "text", "token": token, "last": False}))
                await ws.send(json.dumps({"type": "text", "token": "", "last": True}))
            elif mode == "protected" and len([m for m in got if m["type"] == "prompt"]) == 1:
                notice = "Please listen carefully, as our menu options have changed. " * 3
                await ws.send(json.dumps({"type": "text", "token": notice, "last": True,
                                          "interruptible": False}))  # fmt: skip
            elif mode == "protected":
                await ws.send(json.dumps({"type": "text", "token": "Yes?", "last": True}))
            elif mode == "preempt":
                hold = "Please hold while I look that up for you, it will only take a moment."
                await ws.send(json.dumps({"type": "text", "token": hold, "last": True,
                                          "preemptible": True}))  # fmt: skip
                await asyncio.sleep(1.5)
                found = "I found it: the lamp is lit every night at dusk."
                await ws.send(json.dumps({"type": "text", "token": found, "last": True}))
            elif mode == "jingle":
                await ws.send(json.dumps({"type": "text", "token": "Here is a tune. "}))
                await ws.send(json.dumps({"type": "play", "source": self.clip_url}))
                await ws.send(json.dumps({"type": "sendDigits", "digits": "12"}))
                await ws.send(json.dumps({"type": "text", "token": "", "last": True}))

    @asynccontextmanager
    async def running(self) -> AsyncIterator[ScriptedRelay]:
        async with websockets.serve(self._serve, "127.0.0.1", 0) as server:
            port = next(iter(server.sockets)).getsockname()[1]
            self.url = f"ws://127.0.0.1:{port}/"
            yield self
