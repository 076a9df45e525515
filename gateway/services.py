"""The models and backends every call shares, loaded once per process."""

from __future__ import annotations

from dataclasses import dataclass, field

from gateway.config import Settings
from gateway.pipeline.agent import Agent, OfflineAgent
from gateway.pipeline.openai_chat import OpenAIChatAgent
from gateway.pipeline.stt import PocketSphinxStt, SpeechToText
from gateway.pipeline.tts import EspeakTts, TextToSpeech
from gateway.pipeline.vad import SileroPool
from gateway.pipeline.voice import CascadeVoice, Voice


@dataclass
class Services:
    stt: SpeechToText
    tts: TextToSpeech
    agent: Agent
    vad: SileroPool = field(default_factory=SileroPool)
    """Silero is recurrent: each call holds its own stream, taken from this pool."""

    def voice(self) -> Voice:
        return CascadeVoice(self.stt, self.agent, self.tts)

    async def start(self) -> None:
        await self.stt.warm_up()

    def close(self) -> None:
        self.stt.close()
        self.tts.close()


def build_services(settings: Settings) -> Services:
    agent: Agent
    if settings.agent == "openai":
        agent = OpenAIChatAgent(
            settings.openai_base_url,
            settings.openai_model,
            settings.openai_api_key,
            system_prompt=settings.system_prompt,
        )
    else:
        agent = OfflineAgent()
    return Services(
        stt=PocketSphinxStt(workers=settings.stt_workers),
        tts=EspeakTts(voice=settings.tts_voice, rate_wpm=settings.tts_rate_wpm),
        agent=agent,
    )
