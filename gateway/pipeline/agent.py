"""The agent: a conversation in, a stream of text out."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol


@dataclass(frozen=True, slots=True)
class Message:
    role: Literal["system", "user", "assistant"]
    text: str


ToolReport = Callable[[str, dict[str, Any], Any, str | None], None]
"""(name, arguments, result, error) of a tool the agent ran, for the call's events."""


@dataclass(frozen=True, slots=True)
class Clip:
    """Audio an agent yields in place of text: a played file, key tones.
    PCM16 mono at 16 kHz; `text` is what the call's record shows for it."""

    pcm: bytes
    text: str = ""


class Agent(Protocol):
    def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str | Clip]:
        """Text deltas of the next assistant message. Cancelling stops generation."""
        ...


class AgentLink(Protocol):
    """What an agent with a `start(link)` hook may ask of its call."""

    def speak(self, preempt: bool = False) -> None:
        """Ask for a turn nobody prompted (the next `reply` has no new user
        message). `preempt`: the turn playing now may be cut for it."""
        ...

    def protect(self) -> None:
        """The caller's speech may not cut the reply under way."""
        ...

    def end_call(self, reason: str = "agent ended", interruptible: bool = True) -> None:
        """End the call once what the agent has said so far has been heard.
        `interruptible`: a caller who talks over the goodbye keeps the call
        going (and is answered); False: the goodbye plays out whatever they say."""
        ...

    def transfer(self, to: str, announcement: str = "") -> bool:
        """Hand the caller to `to` once `announcement` (or what the agent has
        said) has been heard. False if the call may not go there: the wire
        cannot transfer, or `to` is not in `transfer_allow`."""
        ...

    def fail(self, reason: str) -> None:
        """The agent cannot go on: the caller hears the apology, the call ends."""
        ...


@dataclass(frozen=True)
class CallInfo:
    """What Sluice knows of a call when it asks a plug-in for the call's agent."""

    call_id: str
    transport: str
    """The wire: "twilio", "telnyx", … for a phone carrier, "websocket" or "webrtc"."""
    carrier: str = ""
    """The phone carrier, or "" for a browser call."""
    caller: str = ""
    """The caller's number, where the wire gives it."""
    callee: str = ""
    """The number called, where the wire gives it."""
    parameters: Mapping[str, str] = field(default_factory=dict)
    """The stream's custom parameters (Twilio `<Parameter>`s and the like)."""
    log: logging.Logger | logging.LoggerAdapter = logging.getLogger("sluice.agent")
    """A logger whose lines carry the call's id."""
    can_transfer: bool = False
    """The wire can hand this call to another number (a carrier with its REST API set up)."""


GOODBYE = "Goodbye, and thank you for calling."
_STORY = (
    "Once upon a time, in a harbour town at the edge of a cold grey sea, there lived a "
    "lighthouse keeper named Ada. Every evening she climbed one hundred and twelve steps to "
    "light the great lamp. The fishing boats watched for her light as they came home through "
    "the fog. One winter the lamp's clockwork began to fail, slowing a little more each night. "
    "Ada wrote to the city for a new part, but the roads were closed by snow. So she sat beside "
    "the lamp through the long nights and turned the crank by hand. Her arms ached, and the "
    "wind howled at the glass, but the light kept turning. When spring came, the captains "
    "of the harbour climbed the steps together to thank her. They found her asleep beside the "
    "lamp, one hand still on the crank. They carried her down, and for a week they took turns "
    "keeping the light themselves. After that, nobody in the town ever forgot how much one "
    "steady light matters in the dark. "
)


class OfflineAgent:
    """A scripted agent good enough to demo the gateway with no network.

    It answers every utterance: it says what it heard, answers a few topics,
    and tells a long story on request so that interrupting can be tried.
    """

    def __init__(self, long_reply_repeats: int = 3, words_per_delta: int = 3) -> None:
        self.long_reply_repeats = long_reply_repeats
        self.words_per_delta = words_per_delta
        self._end_call: Any = None

    def with_tools(self, functions: list[Any]) -> OfflineAgent:
        """This agent for one call: after its goodbye it hangs up with the
        call's `end_call` tool, as a model would."""
        view = OfflineAgent(self.long_reply_repeats, self.words_per_delta)
        view._end_call = next((f for f in functions if f.__name__ == "end_call"), None)
        return view

    def _compose(self, heard: str) -> str:
        words = set(re.findall(r"[a-z']+", heard.lower()))
        if not heard.strip():
            return "Sorry, I did not catch that. Could you say it again?"
        # Quoted inside a sentence of ours: its own full stop would make "again..".
        heard = heard.strip().rstrip(".!?,;: ")
        if words & {"weather", "rain", "sunny"}:
            return f"I heard you say: {heard}. I cannot see outside, but I hope it is sunny."
        if words & {"pizza", "order", "food"}:
            return f"I heard you say: {heard}. One large pizza is on its way, in my imagination."
        # PocketSphinx (stt = "pocketsphinx") often hears "story" as "glory", "gory" or
        # "sorry": take those too, so that asking for a story works with it as well.
        if words & {"story", "glory", "gory", "sorry", "long", "tell", "talk"}:
            return f"I heard you say: {heard}. Here is a story. " + _STORY * self.long_reply_repeats
        if words & {"bye", "goodbye"}:
            return GOODBYE
        return f"I heard you say: {heard}. Ask me for a story if you want to try interrupting me."

    async def reply(
        self, history: list[Message], on_tool: ToolReport | None = None
    ) -> AsyncIterator[str]:
        heard = next((m.text for m in reversed(history) if m.role == "user"), "")
        text = self._compose(heard)
        words = text.split(" ")
        for i in range(0, len(words), self.words_per_delta):
            yield " ".join(words[i : i + self.words_per_delta]) + " "
            await asyncio.sleep(0)
        if text == GOODBYE and self._end_call is not None:
            result = await self._end_call(reason="the caller said goodbye")
            if on_tool is not None:
                on_tool("end_call", {"reason": "the caller said goodbye"}, result, None)
