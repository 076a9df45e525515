"""The relay agent's talk cycles, driven message by message with no socket:
what a barge-in cuts, what it leaves, and what the next reply speaks."""

from __future__ import annotations

import asyncio
import json

import pytest

from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import CallInfo, Message
from gateway.relay import protocol
from gateway.relay.agent import RelayAgent, RelayConfig

pytestmark = pytest.mark.timeout(10)


class Link:
    def __init__(self) -> None:
        self.spoke: list[bool] = []
        self.protected = 0
        self.ended: list[str] = []
        self.failed: list[str] = []

    def speak(self, preempt: bool = False) -> None:
        self.spoke.append(preempt)

    def protect(self) -> None:
        self.protected += 1

    def end_call(self, reason: str = "agent ended", interruptible: bool = True) -> None:
        assert not interruptible, "an agent socket's end is final"
        self.ended.append(reason)

    def fail(self, reason: str) -> None:
        self.failed.append(reason)


def agent() -> tuple[RelayAgent, Link]:
    relay = RelayAgent(CallInfo("c1", "twilio"), RelayConfig("ws://unused"), GatewayMetrics())
    link = Link()
    relay._link = link
    relay._ready.set()
    return relay, link


async def app_sends(relay: RelayAgent, *messages: dict) -> None:
    for message in messages:
        await relay._take(protocol.parse(json.dumps(message)))


def text(token: str, last: bool = False, **more) -> dict:
    return {"type": "text", "token": token, "last": last, **more}


def sent(relay: RelayAgent) -> list[dict]:
    out = []
    while not relay._sends.empty():
        out.append(json.loads(relay._sends.get_nowait()))
    return out


async def speak(relay: RelayAgent, history: list[Message], take: int | None = None) -> list:
    """Run a reply; with `take`, stop after that many items, as a barge-in would."""
    got: list = []
    reply = relay.reply(history)
    try:
        async for item in reply:
            got.append(item)
            if take is not None and len(got) == take:
                break
    finally:
        await reply.aclose()
    return got


async def test_a_prompt_is_answered_by_one_cycle() -> None:
    relay, _ = agent()
    ask = [Message("user", "hi")]
    task = asyncio.create_task(speak(relay, ask))
    await asyncio.sleep(0)
    assert sent(relay) == [json.loads(protocol.prompt("hi", "en-US"))]
    await app_sends(relay, text("Hello "), text("there."), text("", last=True), text("Extra."))
    assert await task == ["Hello ", "there. "]


async def test_a_cut_reply_drops_the_rest_of_its_cycle_and_keeps_the_next() -> None:
    relay, link = agent()
    await app_sends(relay, text("One. "), text("Two. "), text("Three.", last=True))
    # The whole cycle arrived before the caller cut in, as with a fast model.
    ask = Message("user", "count")
    got = await speak(relay, [ask], take=1)
    relay.interrupted("One.", 600)
    assert got == ["One. "]
    await app_sends(relay, text("You pressed 5.", last=True))
    assert link.spoke, "the next cycle asks for a turn of its own"
    assert await speak(relay, [ask, Message("assistant", "One. …")]) == ["You pressed 5. "]
    assert sent(relay)[-1] == json.loads(protocol.interrupt("One.", 600))


async def test_a_cycle_still_streaming_is_dropped_until_its_last() -> None:
    relay, link = agent()
    ask = Message("user", "story")
    reply = asyncio.create_task(speak(relay, [ask], take=1))
    await asyncio.sleep(0)
    await app_sends(relay, text("Once "))
    await reply
    relay.interrupted("Once", 300)
    await app_sends(relay, text("upon "), text("a time.", last=True))
    assert relay._tokens.empty() and not link.spoke, "the cut cycle's tail is never queued"
    await app_sends(relay, text("Sorry, go ahead.", last=True))
    assert await speak(relay, [ask]) == ["Sorry, go ahead. "]


async def test_an_app_that_drops_a_cut_cycle_without_last_is_heard_at_the_next_prompt() -> None:
    relay, _ = agent()
    reply = asyncio.create_task(speak(relay, [Message("user", "story")], take=1))
    await asyncio.sleep(0)
    await app_sends(relay, text("Once "))
    await reply
    relay.interrupted("Once", 300)  # the app cancels its stream: no `last` ever comes
    answer = asyncio.create_task(speak(relay, [Message("user", "stop, what time is it?")]))
    await asyncio.sleep(0)
    await app_sends(relay, text("It is noon.", last=True))
    assert await answer == ["It is noon. "]


async def test_an_unprompted_cycle_waiting_for_the_line_survives_a_barge_in() -> None:
    relay, link = agent()
    await app_sends(relay, text("First answer.", last=True))
    assert await speak(relay, [Message("user", "q")]) == ["First answer. "]
    await app_sends(relay, text("And one more thing.", last=True))  # waits for the line
    relay.interrupted("First", 200)  # the caller cuts the first while it plays
    assert await speak(relay, [Message("user", "q")]) == ["And one more thing. "]


async def test_a_cut_before_any_word_sends_no_interrupt_and_keeps_the_answer() -> None:
    relay, _ = agent()
    ask = Message("user", "q")
    reply = asyncio.create_task(speak(relay, [ask]))
    await asyncio.sleep(0)
    reply.cancel()
    await asyncio.gather(reply, return_exceptions=True)
    relay.interrupted("", 0)
    await app_sends(relay, text("The answer.", last=True))
    assert await speak(relay, [ask]) == ["The answer. "]
    assert [m["type"] for m in sent(relay)] == ["prompt"], "no interrupt, no second prompt"


async def test_text_that_is_not_interruptible_protects_its_reply() -> None:
    relay, link = agent()
    await app_sends(relay, text("Listen.", last=True, interruptible="none"))
    await speak(relay, [Message("user", "q")])
    assert link.protected == 1


async def test_a_preemptible_cycle_lets_the_next_one_cut_it() -> None:
    relay, link = agent()
    await app_sends(relay, text("Please hold.", last=True, preemptible=True))
    playing = asyncio.create_task(speak(relay, [Message("user", "q")]))
    await playing
    await app_sends(relay, text("Here it is.", last=True))
    assert link.spoke == [False, True], "unprompted both; the second may cut the first"
    relay.interrupted("Please", 300)  # the call cut the held turn for it
    assert not [m for m in sent(relay) if m["type"] == "interrupt"]


async def test_end_during_a_reply_ends_it_and_the_call_after() -> None:
    relay, link = agent()
    reply = asyncio.create_task(speak(relay, [Message("user", "bye")]))
    await asyncio.sleep(0)
    await app_sends(relay, text("Goodbye."), {"type": "end", "handoffData": "x" * 20000})
    assert await reply == ["Goodbye. "]
    assert link.ended == ["agent ended"]


async def test_a_message_nested_thousands_deep_is_a_bad_message() -> None:
    with pytest.raises(protocol.BadMessage):
        protocol.parse("[" * 60000)
