"""The cascade's stages against small in-process stand-ins for the agent and TTS."""

import asyncio

import pytest

from gateway.pipeline.agent import Message, OfflineAgent
from gateway.pipeline.voice import CascadeVoice

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

    def close(self) -> None:
        pass


async def test_a_reply_is_spoken_sentence_by_sentence():
    tts = CountingTts()
    voice = CascadeVoice(stt=None, agent=OfflineAgent(), tts=tts)
    pieces = [p async for p in voice.respond([Message("user", "what is the weather")])]
    assert len(pieces) >= 2
    assert pieces[0].text == "I heard you say:"
    assert pieces[1].text == "what is the weather."
    assert [p.text for p in pieces] == tts.started


async def test_the_agent_runs_ahead_of_tts_by_a_bounded_number_of_sentences():
    class EndlessAgent:
        produced = 0

        async def reply(self, history):
            while True:
                EndlessAgent.produced += 1
                yield "This is one more sentence. "

    tts = CountingTts(delay=10)
    voice = CascadeVoice(stt=None, agent=EndlessAgent(), tts=tts, sentence_queue=2)
    stream = voice.respond([])
    task = asyncio.create_task(stream.__anext__())
    await asyncio.sleep(0.05)
    # One sentence in TTS, two queued, one more being put: never the whole reply.
    assert EndlessAgent.produced <= 5
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert tts.cancelled == 1


async def test_an_agent_failure_surfaces_instead_of_hanging():
    class BrokenAgent:
        async def reply(self, history):
            yield "Half a sentence"
            raise RuntimeError("backend fell over")

    voice = CascadeVoice(stt=None, agent=BrokenAgent(), tts=CountingTts())
    with pytest.raises(RuntimeError, match="backend fell over"):
        _ = [p async for p in voice.respond([])]


async def test_the_offline_agent_answers_every_utterance_and_tells_long_stories():
    agent = OfflineAgent()
    for said in ["", "hello", "tell me a story"]:
        text = "".join([d async for d in agent.reply([Message("user", said)])])
        assert text.strip()
    story = "".join([d async for d in agent.reply([Message("user", "tell me a long story")])])
    assert len(story.split()) > 400
