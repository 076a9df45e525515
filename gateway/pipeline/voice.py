"""The middle of the pipeline: what turns caller speech into agent speech.

The cascade (STT -> agent -> sentences -> TTS) is the offline default. A
speech-to-speech backend implements the same `Voice` shape: it takes the
caller's audio and yields spoken pieces; everything around it (turn ids, the
bounded output, barge-in and the heard-text truncation) stays the same.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

from gateway.pipeline.agent import Agent, Message
from gateway.pipeline.sentences import SentenceSplitter
from gateway.pipeline.stt import SpeechToText, SttStream
from gateway.pipeline.tts import TextToSpeech


@dataclass(frozen=True, slots=True)
class SpokenPiece:
    text: str
    pcm: bytes
    """PCM16 mono at the internal rate."""


class Voice(Protocol):
    def listen(self) -> SttStream:
        """A stream for one caller utterance; `finish()` gives its transcript."""
        ...

    def say(self, text: str) -> AsyncIterator[SpokenPiece]:
        """Speak fixed text (the greeting)."""
        ...

    def respond(self, history: list[Message]) -> AsyncIterator[SpokenPiece]:
        """The agent's reply to the conversation, spoken. Cancelling stops all work."""
        ...

    def heard(self, history: list[Message], heard_text: str) -> None:
        """The caller interrupted; only `heard_text` of the reply reached them."""
        ...


class CascadeVoice:
    def __init__(
        self,
        stt: SpeechToText,
        agent: Agent,
        tts: TextToSpeech,
        sentence_queue: int = 2,
        max_sentence_chars: int = 240,
    ) -> None:
        self.stt = stt
        self.agent = agent
        self.tts = tts
        self.sentence_queue = sentence_queue
        self.max_sentence_chars = max_sentence_chars

    def listen(self) -> SttStream:
        return self.stt.open_stream()

    async def say(self, text: str) -> AsyncIterator[SpokenPiece]:
        splitter = SentenceSplitter(self.max_sentence_chars)
        for sentence in splitter.feed(text) + splitter.flush():
            yield SpokenPiece(sentence, await self.tts.synthesize(sentence))

    async def respond(self, history: list[Message]) -> AsyncIterator[SpokenPiece]:
        # The agent may run ahead of TTS by `sentence_queue` sentences, no more.
        sentences: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.sentence_queue)

        async def write_text() -> None:
            splitter = SentenceSplitter(self.max_sentence_chars)
            async for delta in self.agent.reply(history):
                for sentence in splitter.feed(delta):
                    await sentences.put(sentence)
            for sentence in splitter.flush():
                await sentences.put(sentence)
            await sentences.put(None)

        writer = asyncio.create_task(write_text(), name="agent-text")
        try:
            while True:
                if writer.done():
                    writer.result()  # the agent failed: raise its error here
                    sentence = await sentences.get()
                else:
                    getter = asyncio.ensure_future(sentences.get())
                    done, _ = await asyncio.wait(
                        {getter, writer}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if getter not in done:
                        getter.cancel()
                        continue
                    sentence = getter.result()
                if sentence is None:
                    break
                yield SpokenPiece(sentence, await self.tts.synthesize(sentence))
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    def heard(self, history: list[Message], heard_text: str) -> None:
        if heard_text:
            history.append(Message("assistant", heard_text + " …"))
