"""A local stand-in for an OpenAI-compatible chat endpoint: no hosted service is reachable here."""

from __future__ import annotations

import json

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse


def fake_chat_app(
    reply: str = "Hello from the fake model. It streams one word at a time.",
) -> FastAPI:
    app = FastAPI()
    app.state.requests = []

    @app.post("/v1/chat/completions")
    async def completions(request: Request):
        body = await request.json()
        app.state.requests.append({"body": body, "auth": request.headers.get("authorization")})
        if body.get("model") == "broken":
            return JSONResponse({"error": {"message": "no such model"}}, status_code=404)

        async def events():
            yield "data: " + json.dumps({"choices": [{"delta": {"role": "assistant"}}]}) + "\n\n"
            for word in reply.split(" "):
                chunk = {"choices": [{"delta": {"content": word + " "}}]}
                yield "data: " + json.dumps(chunk) + "\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app
