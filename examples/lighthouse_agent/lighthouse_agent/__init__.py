"""A lighthouse's information desk, as a Sluice agent plug-in.

`make_agent` is the factory Sluice calls once per call (`--agent
lighthouse_agent:make_agent`); it gets the call's `CallInfo` and returns the
call's own agent.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from gateway.agents import CallInfo, Message, ToolReport

STORY = (
    "The lighthouse was built in eighteen ninety one, on a rock that the sea covers at high "
    "tide. Its keepers carried oil up one hundred and twelve steps every evening, and in the "
    "winter storms they stayed awake all night to keep the lamp turning. "
)


class LighthouseAgent:
    """Answers from a few facts; tells a long story on request.

    `seen` keeps each history it was given and `cancelled` counts the replies
    that were stopped before their end (barge-in), so that a test can check both.
    """

    def __init__(self, info: CallInfo, seconds_per_word: float = 0.01) -> None:
        self.info = info
        self.seconds_per_word = seconds_per_word
        self.seen: list[list[Message]] = []
        self.cancelled = 0

    def _answer(self, question: str) -> str:
        words = set(question.lower().replace("?", " ").replace(".", " ").split())
        if words & {"story", "long", "tell", "history"}:
            return "Here is the story of the lighthouse. " + STORY * 4
        if words & {"open", "hours", "visit", "when"}:
            return "The lighthouse is open to visitors from ten until four, every day but Monday."
        if words & {"bye", "goodbye", "thanks"}:
            return "Goodbye, and mind the rocks."
        return "This is the lighthouse desk. Ask me when we are open, or for the story."

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str]:
        self.seen.append(list(history))
        question = next((m.text for m in reversed(history) if m.role == "user"), "")
        self.info.log.info("answering %r on %s", question[:60], self.info.transport)
        finished = False
        try:
            for word in self._answer(question).split(" "):
                yield word + " "
                await asyncio.sleep(self.seconds_per_word)  # as a model streams its tokens
            finished = True
        finally:
            # A barge-in stops the reply: CancelledError at an await, or the
            # generator closed (GeneratorExit) at a yield. Either way, clean up here.
            if not finished:
                self.cancelled += 1


def make_agent(info: CallInfo) -> LighthouseAgent:
    return LighthouseAgent(info)
