"""An agent backed by any OpenAI-compatible streaming chat completions endpoint."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator

import httpx

from gateway.pipeline.agent import Message

log = logging.getLogger(__name__)


class AgentError(RuntimeError):
    pass


class OpenAIChatAgent:
    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str = "",
        system_prompt: str = "You are a helpful voice assistant. Answer briefly, in plain speech.",
        timeout_s: float = 30.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.system_prompt = system_prompt
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_s, headers=headers)

    def _payload(self, history: list[Message]) -> dict:
        messages = [{"role": "system", "content": self.system_prompt}]
        messages += [{"role": m.role, "content": m.text} for m in history if m.role != "system"]
        return {"model": self.model, "messages": messages, "stream": True}

    async def reply(self, history: list[Message]) -> AsyncIterator[str]:
        async with self._client.stream("POST", self.url, json=self._payload(history)) as response:
            if response.status_code != 200:
                body = (await response.aread())[:300]
                raise AgentError(f"chat endpoint answered {response.status_code}: {body!r}")
            async for line in response.aiter_lines():
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    delta = json.loads(data)["choices"][0].get("delta", {}).get("content")
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    raise AgentError(f"malformed stream chunk: {data[:120]!r}") from exc
                if delta:
                    yield delta

    async def aclose(self) -> None:
        await self._client.aclose()
