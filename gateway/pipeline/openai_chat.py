"""An agent backed by any OpenAI-compatible streaming chat completions endpoint.

With tools, a reply may take several requests: the model streams tool calls
instead of words, the agent runs them, appends their results, and asks again,
at most `MAX_TOOL_ROUNDS` times. The tool exchange lives only in that loop;
the call's history keeps what was said.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx

from gateway.pipeline.agent import Message, ToolReport
from gateway.pipeline.tools import ToolFunction, Tools, output_text

log = logging.getLogger(__name__)

MAX_TOOL_ROUNDS = 4


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
        tools: Tools | None = None,
    ) -> None:
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.system_prompt = system_prompt
        self.tools = tools or Tools()
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = client or httpx.AsyncClient(timeout=timeout_s, headers=headers)
        self._owns_client = True

    def with_tools(self, functions: list[ToolFunction]) -> OpenAIChatAgent:
        """This agent for one call, with that call's own tools (end_call, …)
        beside the shared ones; it shares the HTTP client and leaves it open."""
        view = copy.copy(self)
        view.tools = self.tools.with_functions(functions)
        view._owns_client = False
        return view

    def _payload(self, messages: list[dict[str, Any]]) -> dict:
        payload: dict[str, Any] = {"model": self.model, "messages": messages, "stream": True}
        if self.tools:
            payload["tools"] = self.tools.chat_declarations()
        return payload

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str]:
        messages: list[dict[str, Any]] = [{"role": "system", "content": self.system_prompt}]
        # System messages in the history are Sluice's notes to the model (a
        # transfer that failed), in their place in the conversation.
        messages += [{"role": m.role, "content": m.text} for m in history]
        for _ in range(MAX_TOOL_ROUNDS + 1):
            calls: dict[int, dict[str, Any]] = {}
            async for delta in self._stream(messages, calls):
                yield delta
            if not calls:
                return
            ordered = [calls[i] for i in sorted(calls)]
            messages.append({"role": "assistant", "content": None, "tool_calls": ordered})
            for call in ordered:
                name, arguments = call["function"]["name"], call["function"]["arguments"]
                args, result, error = await self.tools.run(name, arguments)
                if on_tool is not None:
                    on_tool(name, args, result, error)
                messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "content": output_text(result, error),
                    }
                )
        raise AgentError(f"the model kept calling tools after {MAX_TOOL_ROUNDS} rounds")

    async def _stream(
        self, messages: list[dict[str, Any]], calls: dict[int, dict[str, Any]]
    ) -> AsyncIterator[str]:
        async with self._client.stream("POST", self.url, json=self._payload(messages)) as response:
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
                    choices = json.loads(data)["choices"]
                    if not choices:
                        continue  # a filter report or usage chunk: no words in it
                    delta = choices[0].get("delta") or {}
                    content = delta.get("content")
                    for part in delta.get("tool_calls") or []:
                        _gather_tool_call(calls, part)
                except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
                    raise AgentError(f"malformed stream chunk: {data[:120]!r}") from exc
                if content:
                    yield content

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _gather_tool_call(calls: dict[int, dict[str, Any]], part: dict[str, Any]) -> None:
    """Tool calls stream in pieces keyed by index: the id and name first, then
    the arguments a few characters at a time."""
    index = int(part.get("index", 0))
    if index > 16:
        raise ValueError("too many tool calls in one reply")
    call = calls.setdefault(
        index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
    )
    call["id"] = part.get("id") or call["id"]
    function = part.get("function") or {}
    # OpenAI names the function once; some servers repeat the name in every piece.
    call["function"]["name"] = function.get("name") or call["function"]["name"]
    call["function"]["arguments"] += function.get("arguments") or ""
    if len(call["function"]["arguments"]) > 64_000:
        raise ValueError("tool call arguments too long")
