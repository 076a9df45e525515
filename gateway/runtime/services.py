"""The models and backends every call shares, loaded once per process, and the
voice session each call gets from them."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from gateway.clock import Clock
from gateway.observe.metrics import GatewayMetrics
from gateway.pipeline.agent import Agent, CallInfo, OfflineAgent
from gateway.pipeline.openai_chat import OpenAIChatAgent
from gateway.pipeline.openai_speech import OpenAIStt, OpenAITts
from gateway.pipeline.shared_vad import SharedSilero
from gateway.pipeline.stt import PocketSphinxStt, SpeechToText
from gateway.pipeline.tools import Tools, load_tools
from gateway.pipeline.tts import EspeakTts, TextToSpeech
from gateway.pipeline.vad import VoiceStream
from gateway.pipeline.whisper_stt import WhisperSettings, WhisperStt
from gateway.relay.agent import RelayConfig, relay_factory
from gateway.runtime import extras
from gateway.runtime.config import Settings
from gateway.runtime.plugins import BUILT_IN, AgentFactory, load_factory
from gateway.voice.call_tools import CallToolOptions, CallTools, parse_allow
from gateway.voice.cascade import CascadeSession
from gateway.voice.gemini import GeminiSession, GeminiSettings
from gateway.voice.realtime import RealtimeSession, RealtimeSettings
from gateway.voice.session import VoiceSession


@dataclass
class Services:
    stt: SpeechToText | None
    """The cascade's recogniser; None when no call uses the cascade (a
    speech-to-speech voice transcribes for itself)."""
    tts: TextToSpeech
    """The cascade's voice, and the apology of a voice that failed."""
    agent: Agent
    vad: SharedSilero = field(default_factory=SharedSilero)
    """One Silero model for every call; each call holds only its recurrent state."""
    tools: Tools = field(default_factory=Tools)
    plugins: dict[str, AgentFactory] = field(default_factory=dict)
    """Agent plug-ins loaded so far, by their `agent` setting."""

    def agent_factory(self, spec: str) -> AgentFactory | None:
        """The plug-in that makes each call's own agent, in place of `agent`;
        None for a built-in agent. Loaded once, at start (build_services)."""
        if spec in BUILT_IN:
            return None
        if spec not in self.plugins:
            self.plugins[spec] = load_factory(spec)
        return self.plugins[spec]

    def _factory(self, settings: Settings, metrics: GatewayMetrics) -> AgentFactory | None:
        if settings.agent == "relay":
            config = RelayConfig(
                settings.agent_relay_url,
                settings.relay_headers,
                settings.agent_relay_language,
                settings.twilio_auth_token,
            )
            return relay_factory(config, metrics)
        return self.agent_factory(settings.agent)

    def voice(
        self,
        settings: Settings,
        native_audio: str,
        vad_stream: VoiceStream,
        clock: Clock,
        metrics: GatewayMetrics,
        kind: str,
        info: CallInfo | None = None,
    ) -> VoiceSession:
        """A voice session for one call on a wire whose own codec is `native_audio`."""
        vad = settings.call_settings().vad
        controls = CallTools(
            CallToolOptions(
                end_call=settings.end_call_tool,
                transfer_allow=parse_allow(settings.transfer_allow),
                can_transfer=info is not None and info.can_transfer,
            )
        )
        tools = self.tools.with_functions(controls.functions())
        session: GeminiSession | RealtimeSession
        if settings.voice == "gemini-live":
            session = GeminiSession(
                gemini_settings(settings), tools, vad_stream, vad, clock, metrics
            )
            session.controls = controls
            return session
        if settings.voice == "openai-realtime":
            session = RealtimeSession(
                realtime_settings(settings), tools, native_audio, vad_stream, vad, clock, metrics
            )
            session.controls = controls
            return session
        if self.stt is None:
            raise RuntimeError("the cascade voice needs a recogniser; none was loaded")
        return CascadeSession(
            self.stt,
            self.agent,
            self.tts,
            vad_stream,
            vad,
            clock,
            metrics,
            kind,
            native_audio=native_audio,
            agent_factory=self._factory(settings, metrics),
            info=info or CallInfo("", kind, log=logging.getLogger("sluice.agent")),
            agent_timeout_s=settings.agent_timeout_s,
            controls=controls,
        )

    async def start(self) -> None:
        await self.vad.start()
        if self.stt is not None:
            await self.stt.warm_up()

    def describe(self, settings: Settings) -> str:
        """What this process runs, for its startup log line."""
        if settings.voice == "gemini-live":
            return f"voice=gemini-live model={settings.gemini_live_model}"
        if settings.voice == "openai-realtime":
            transcribe = settings.openai_realtime_transcribe_model or "off"
            return (
                f"voice=openai-realtime model={settings.openai_realtime_model} "
                f"url={settings.openai_realtime_url} transcription={transcribe}"
            )
        return f"voice=cascade stt={settings.stt} agent={settings.agent} tts={settings.tts}"

    def close(self) -> None:
        if self.stt is not None:
            self.stt.close()
        self.tts.close()
        self.vad.close()


def realtime_settings(settings: Settings) -> RealtimeSettings:
    return RealtimeSettings(
        url=settings.openai_realtime_url,
        model=settings.openai_realtime_model,
        api_key=settings.openai_api_key,
        voice=settings.openai_realtime_voice,
        instructions=settings.system_prompt,
        buffer_ms=settings.openai_realtime_buffer_ms,
        transcribe_model=settings.openai_realtime_transcribe_model,
    )


def gemini_settings(settings: Settings) -> GeminiSettings:
    return GeminiSettings(
        url=settings.gemini_live_url,
        model=settings.gemini_live_model,
        api_key=settings.gemini_api_key,
        voice=settings.gemini_live_voice,
        instructions=settings.system_prompt,
    )


def whisper_settings(settings: Settings) -> WhisperSettings:
    return WhisperSettings(
        model=settings.stt_whisper_model,
        compute_type=settings.stt_whisper_compute_type,
        workers=settings.stt_workers,
        min_window_s=settings.stt_whisper_min_window_s,
        no_speech_prob=settings.stt_whisper_no_speech,
    )


def build_services(settings: Settings) -> Services:
    extras.require(settings)  # before any model loads: name the missing extra
    tools = load_tools(settings.tools, settings.tool_timeout_s)
    agent: Agent
    if settings.agent == "openai":
        agent = OpenAIChatAgent(
            settings.openai_base_url,
            settings.openai_model,
            settings.openai_api_key,
            system_prompt=settings.system_prompt,
            tools=tools,
        )
    else:
        agent = OfflineAgent()
    stt: SpeechToText | None
    if settings.voice != "cascade":
        stt = None  # a speech-to-speech model hears the caller itself: no Whisper to load
    elif settings.stt == "openai":
        stt = OpenAIStt(
            settings.stt_base_url or settings.openai_base_url,
            settings.stt_model,
            settings.stt_api_key or settings.openai_api_key,
        )
    elif settings.stt == "pocketsphinx":
        stt = PocketSphinxStt(workers=settings.stt_workers)
    else:
        stt = WhisperStt(whisper_settings(settings))
    tts: TextToSpeech = EspeakTts(voice=settings.tts_voice, rate_wpm=settings.tts_rate_wpm)
    if settings.tts == "piper":
        from gateway.pipeline.piper_tts import PiperTts  # an optional extra

        tts = PiperTts(settings.tts_piper_voice)
    elif settings.tts == "openai":
        tts = OpenAITts(
            settings.tts_base_url or settings.openai_base_url,
            settings.tts_model,
            settings.tts_openai_voice,
            settings.tts_api_key or settings.openai_api_key,
        )
    services = Services(stt=stt, tts=tts, agent=agent, tools=tools)
    services.agent_factory(settings.agent)  # a plug-in that cannot load stops the start here
    return services
