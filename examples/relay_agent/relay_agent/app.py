"""The app. Nothing here knows about Sluice: it speaks ConversationRelay as
Twilio documents it, and would run the same behind Twilio."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator

from fastapi import FastAPI, WebSocket, WebSocketDisconnect

SYSTEM_PROMPT = "You are the front desk of the Harbour Lighthouse. Answer briefly."
WELCOME = "Welcome to the Harbour Lighthouse."

app = FastAPI()
sessions: dict[str, list[dict[str, str]]] = {}
"""The conversation of each call, by callSid, as the tutorial keeps it."""
received: dict[str, list[dict]] = {}
"""Every message each call sent, by callSid: for the tests, and for watching."""

_STORY = (
    "The lighthouse was built in eighteen sixty, on the rocks at the mouth of the "
    "harbour. Its first keeper was a fisherman's widow named Ada, who kept the lamp "
    "burning through forty winters. She climbed the hundred and twelve steps every "
    "evening at dusk, trimmed the wick, and wound the clockwork that turned the lens. "
    "On the stormiest night of her life, the clockwork broke, and she turned the lens "
    "by hand until dawn, so that six fishing boats found their way home. "
)


async def draft_response(conversation: list[dict[str, str]]) -> AsyncIterator[str]:
    """A stand-in for the model: streams a short answer to the last question,
    a word or two at a time, as a chat model streams its tokens."""
    question = conversation[-1]["content"].lower()
    if "story" in question or "history" in question:
        answer = "Here is the lighthouse's story. " + _STORY * 3
    elif re.search(r"\b(bye|goodbye)\b", question):
        answer = "Goodbye, and thank you for calling the lighthouse."
    elif "open" in question or "hours" in question:
        answer = "We are open from ten until four, every day but Monday."
    else:
        answer = f"You asked: {conversation[-1]['content'].rstrip('.?!')}. Ask me for a story."
    words = answer.split(" ")
    for i in range(0, len(words), 2):
        await asyncio.sleep(0.02)  # a model's time per token
        yield " ".join(words[i : i + 2]) + " "


def truncate_at_interrupt(conversation: list[dict[str, str]], heard: str) -> None:
    """Keep only what the caller heard of the answer they talked over."""
    for message in reversed(conversation):
        if message["role"] == "assistant":
            message["content"] = heard
            return


@app.websocket("/ws")
async def websocket_endpoint(websocket: WebSocket) -> None:
    await websocket.accept()
    call_sid = ""
    answering: asyncio.Task | None = None

    async def answer(conversation: list[dict[str, str]]) -> None:
        said = ""
        conversation.append({"role": "assistant", "content": said})
        async for token in draft_response(conversation[:-1]):
            said += token
            conversation[-1]["content"] = said.strip()
            await websocket.send_text(json.dumps({"type": "text", "token": token, "last": False}))
        await websocket.send_text(json.dumps({"type": "text", "token": "", "last": True}))
        if said.lower().startswith("goodbye"):
            await websocket.send_text(
                json.dumps({"type": "end", "handoffData": json.dumps({"reason": "goodbye"})})
            )

    try:
        while True:
            message = json.loads(await websocket.receive_text())
            received.setdefault(call_sid or message.get("callSid", ""), []).append(message)
            match message["type"]:
                case "setup":
                    call_sid = message["callSid"]
                    sessions[call_sid] = [{"role": "system", "content": SYSTEM_PROMPT}]
                case "prompt":
                    conversation = sessions[call_sid]
                    conversation.append({"role": "user", "content": message["voicePrompt"]})
                    answering = asyncio.create_task(answer(conversation))
                case "interrupt":
                    if answering is not None:
                        answering.cancel()
                    truncate_at_interrupt(sessions[call_sid], message["utteranceUntilInterrupt"])
                case "dtmf":
                    await websocket.send_text(
                        json.dumps(
                            {"type": "text", "token": f"You pressed {message['digit']}.",
                             "last": True}
                        )
                    )
                case "error":
                    print("ConversationRelay error:", message["description"])
    except WebSocketDisconnect:
        if answering is not None:
            answering.cancel()
        sessions.pop(call_sid, None)
