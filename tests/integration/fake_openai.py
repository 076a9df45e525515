"""A local stand-in for an OpenAI-compatible chat endpoint: no hosted service is reachable here.

By default it streams `reply` word by word. Given `tool_call=(name, arguments)`,
a request that declares a function of that name, in a conversation with no
`role: "tool"` message yet, gets that tool call streamed instead, as OpenAI
streams one: the id and name first, the arguments in pieces, then
`finish_reason: "tool_calls"`. Once the conversation has a tool message the
reply is text again, and the tool messages it got are kept on
`app.state.tool_messages`. `app.state.tool_call_always = True` makes the
model call the tool every time, tool messages or not. Both knobs live on
`app.state` and may be changed between requests.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

TOOL_CALL_ID = "call_x"


def _sse(payload: Any) -> str:
    return "data: " + json.dumps(payload) + "\n\n"


def _chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
    return {
        "object": "chat.completion.chunk",
        "model": "fake",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }


def _declares(body: dict[str, Any], name: str) -> bool:
    return any(
        t.get("type") == "function" and (t.get("function") or {}).get("name") == name
        for t in body.get("tools") or []
    )


def fake_chat_app(
    reply: str = "Hello from the fake model. It streams one word at a time.",
    tool_call: tuple[str, str] | None = None,
) -> FastAPI:
    app = FastAPI()
    app.state.requests = []
    app.state.tool_call = tool_call
    app.state.tool_call_always = False
    app.state.tool_calls_left = None
    """How many more times the tool is called; None: whenever it is declared."""
    app.state.tool_messages = []

    def text_events():
        yield _sse({"choices": [{"delta": {"role": "assistant"}}]})
        for word in reply.split(" "):
            yield _sse({"choices": [{"delta": {"content": word + " "}}]})
        yield "data: [DONE]\n\n"

    def tool_call_events(name: str, arguments: str):
        first = {"index": 0, "id": TOOL_CALL_ID, "type": "function"}
        first["function"] = {"name": name, "arguments": ""}
        yield _sse(_chunk({"role": "assistant", "content": None, "tool_calls": [first]}))
        for start in range(0, len(arguments), 5):
            piece = {"index": 0, "function": {"arguments": arguments[start : start + 5]}}
            yield _sse(_chunk({"tool_calls": [piece]}))
        yield _sse(_chunk({}, finish_reason="tool_calls"))
        yield "data: [DONE]\n\n"

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        body = await request.json()
        app.state.requests.append({"body": body, "auth": request.headers.get("authorization")})
        if body.get("model") == "broken":
            return JSONResponse({"error": {"message": "no such model"}}, status_code=404)

        tool_messages = [m for m in body.get("messages") or [] if m.get("role") == "tool"]
        wanted = app.state.tool_call
        left = app.state.tool_calls_left
        if wanted is not None and _declares(body, wanted[0]) and left != 0:
            if app.state.tool_call_always or not tool_messages:
                if left is not None:
                    app.state.tool_calls_left = left - 1
                return StreamingResponse(tool_call_events(*wanted), media_type="text/event-stream")
        app.state.tool_messages.extend(tool_messages)
        return StreamingResponse(text_events(), media_type="text/event-stream")

    return app
