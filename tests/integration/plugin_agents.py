"""Agent plug-ins that misbehave, for tests/integration/test_plugin_agent.py."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gateway.agents import CallInfo, Message, ToolReport


def broken(info: CallInfo):
    raise RuntimeError("this factory cannot make an agent")


class Silent:
    """Never says a word: a stuck model endpoint."""

    def __init__(self) -> None:
        self.closed = False

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str]:
        try:
            await asyncio.sleep(3600)
            yield ""
        finally:
            self.closed = True


def silent(info: CallInfo) -> Silent:
    return Silent()
