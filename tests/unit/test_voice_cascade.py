"""The cascade voice against small in-process stand-ins for the agent and TTS."""

import asyncio

import pytest

from gateway.clock import FakeClock
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import Message, OfflineAgent
from gateway.pipeline.segmenter import VadSettings
from gateway.voice.cascade import CascadeSession, sentences_of
from gateway.voice.session import ReplyDone

pytestmark = pytest.mark.timeout(5)


class CountingTts:
    def __init__(self, delay: float = 0.0) -> None:
        self.started: list[str] = []
        self.cancelled = 0
        self.delay = delay

    async def synthesize(self, text: str) -> bytes:
        self.started.append(text)
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        return bytes(640 * len(text.split()))

    async def stream(self, text: str):
        yield await self.synthesize(text)

    def close(self) -> None:
        pass


class SilentStream:
    window_samples = 512

    def submit(self, window, done) -> None:
        done(0.0)

    def close(self) -> None:
        pass


class Sink:
    def __init__(self, room_ms: int = 10_000) -> None:
        self.spoken: list[tuple[int, int, str]] = []
        self.events: list = []
        self.live = True

    def event(self, event) -> None:
        self.events.append(event)

    async def audio(self, turn_id, pcm, text="", ulaw8k=b"") -> bool:
        self.spoken.append((turn_id, len(pcm), text))
        return self.live


def cascade(agent, tts) -> CascadeSession:
    return CascadeSession(
        None, agent, tts, SilentStream(), VadSettings(), FakeClock(), GatewayMetrics(), "twilio"
    )


async def run_until(session: CascadeSession, sink: Sink, predicate) -> asyncio.Task:
    task = asyncio.create_task(session.run(sink))
    for _ in range(200):
        await asyncio.sleep(0.005)
        if predicate():
            break
    return task


async def test_a_reply_is_spoken_sentence_by_sentence_and_kept_in_history():
    tts = CountingTts()
    session = cascade(OfflineAgent(), tts)
    sink = Sink()
    session._said = ["what is the weather"]
    runner = await run_until(session, sink, lambda: False)
    session.reply(1)
    for _ in range(100):
        await asyncio.sleep(0.005)
        if any(isinstance(e, ReplyDone) for e in sink.events):
            break
    texts = [text for _, _, text in sink.spoken]
    assert texts[:2] == ["I heard you say:", "what is the weather."]
    assert texts == tts.started
    assert session.history[0] == Message("user", "what is the weather")
    assert session.history[-1].role == "assistant"
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_an_interrupt_cancels_the_sentence_in_tts_and_keeps_only_what_was_heard():
    tts = CountingTts(delay=10)
    session = cascade(OfflineAgent(), tts)
    sink = Sink()
    runner = await run_until(session, sink, lambda: False)
    session.reply(1, greeting="Hello there. This is a long greeting.")
    await asyncio.sleep(0.05)
    assert tts.started == ["Hello there."]
    assert session.interrupt(1, heard_ms=0, heard_text="Hello")
    await asyncio.sleep(0.01)
    assert tts.cancelled == 1
    assert session.history[-1] == Message("assistant", "Hello …")
    assert not any(isinstance(e, ReplyDone) for e in sink.events)
    runner.cancel()
    await asyncio.gather(runner, return_exceptions=True)


async def test_the_agent_runs_ahead_of_tts_by_a_bounded_number_of_sentences():
    class EndlessAgent:
        produced = 0

        async def reply(self, history, on_tool=None):
            while True:
                EndlessAgent.produced += 1
                yield "This is one more sentence. "

    stream = sentences_of(EndlessAgent(), [], 240, ahead=2)
    assert await stream.__anext__() == "This is one more sentence."
    await asyncio.sleep(0.05)
    # One sentence taken, two queued, one more being put: never the whole reply.
    assert EndlessAgent.produced <= 5
    await stream.aclose()


async def test_an_agent_failure_surfaces_instead_of_hanging():
    class BrokenAgent:
        async def reply(self, history, on_tool=None):
            yield "Half a sentence"
            raise RuntimeError("backend fell over")

    with pytest.raises(RuntimeError, match="backend fell over"):
        _ = [s async for s in sentences_of(BrokenAgent(), [], 240, ahead=2)]


async def test_the_offline_agent_answers_every_utterance_and_tells_long_stories():
    agent = OfflineAgent()
    for said in ["", "hello", "tell me a story"]:
        text = "".join([d async for d in agent.reply([Message("user", said)])])
        assert text.strip()
    story = "".join([d async for d in agent.reply([Message("user", "tell me a long story")])])
    assert len(story.split()) > 400


async def test_a_backchannel_s_words_do_not_join_the_next_question():
    session = cascade(OfflineAgent(), CountingTts())

    class Forgetful(Sink):
        def event(self, event) -> None:
            super().event(event)
            if getattr(event, "text", None) == "yeah":
                session.forget_speech()  # as the call does for a backchannel

    sink = Forgetful()
    session._out = sink

    class Stream:
        def __init__(self, text: str) -> None:
            self.text = text

        async def finish(self) -> str:
            return self.text

    await session._understand(Stream("yeah"), 1.0)
    await session._understand(Stream("what time is it"), 2.0)
    assert session._said == ["what time is it"]
